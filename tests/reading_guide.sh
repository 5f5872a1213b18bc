#!/bin/sh
# tests/reading_guide.sh — the line counts of the README's reading guide:
# for each notebook, the functions a reader follows from the data to the
# saved model, with their file, first line and length (the comment above a
# function included), and the path's total. Run from the repository root:
#   sh tests/reading_guide.sh             the tables, with first lines
#   sh tests/reading_guide.sh --markdown  the README's rows (paste them there)
set -eu
MARKDOWN=0
[ "${1:-}" = --markdown ] && MARKDOWN=1

# lines FILE NAME: "FILE:FIRST LENGTH" of function NAME (its comment, its
# signature and its body to the closing brace at column 0)
lines() {
    awk -v name="$2" -v file="$1" '
        /^\/\*/ && !infn { cstart = NR }
        /^[^ \t#\/}].*[ *]/ && index($0, name "(") && !infn {
            pre = substr($0, 1, index($0, name "(") - 1)
            if (pre ~ /[ *]$/ && pre !~ /[;=]/) {
                start = (cstart && cstart >= last_end) ? cstart : NR; infn = 1
            }
        }
        infn && /^}/ { printf "%s:%d %d\n", file, start, NR - start + 1; exit }
        /^}/ { last_end = NR; cstart = 0 }
        /^$/ && !infn { cstart = 0 }
    ' "$1"
}

# path TITLE FILE:FUNC ...: one table row per function, then the total
path() {
    title=$1; shift
    total=0
    [ $MARKDOWN = 1 ] || printf '\n%s\n' "$title"
    for spec in "$@"; do
        file=${spec%%:*}; fn=${spec#*:}
        got=$(lines "$file" "$fn")
        [ -n "$got" ] || { echo "not found: $spec" >&2; exit 1; }
        n=${got##* }; at=${got%% *}
        total=$((total + n))
        if [ $MARKDOWN = 1 ]; then printf '| `%s` | %s | %d |\n' "$fn" "$file" "$n"
        else printf '  %-26s %-24s %4d\n' "$fn" "$at" "$n"; fi
    done
    if [ $MARKDOWN = 1 ]; then printf '| **total** | | **%d** |\n' "$total"
    else printf '  %-51s %4d\n' "total" "$total"; fi
}

path "notebook 003: the dot model, MSE, AdaMax, the loop" \
    mf.c:mf_train mf.c:fit_open mf.c:epoch_begin mf.c:epoch_order mf.c:plain_epoch \
    mf.c:mf_gather_batch mf.c:mf_batch_gradient mf.c:mf_batch_loss mf.c:mf_batch_backward \
    mf.c:mf_forward mf.c:dot_forward mf.c:row_vector mf.h:mf_rating_offset \
    nn.c:nn_mse_forward nn.c:nn_mse_backward \
    mf.c:mf_backward mf.c:dot_backward mf.c:row_vector_backward \
    nn.c:nn_optimizer_step nn.c:nn_optimizer_rate nn.c:nn_adamax_lr_t \
    nn.c:nn_optimizer_update_span nn.c:nn_adamax_update_scalar \
    mf.c:validate mf.c:early_stopping mf.c:fit_close

path "notebook 002: the network over user, movie and genre embeddings (beside the loop above)" \
    mf.c:network_forward mf.c:embed_forward mf.c:concat_forward mf.c:user_row mf.c:pair_row \
    mf.c:dropout_forward mf.c:tower_forward \
    nn.c:nn_dropout_forward nn.c:dropout_threshold \
    nn.c:nn_dense_forward_scalar nn.c:nn_activation_forward \
    mf.c:network_backward mf.c:tower_backward mf.c:concat_backward mf.c:pair_row_backward \
    nn.c:nn_dropout_backward nn.c:nn_dense_backward_scalar nn.c:nn_activation_backward \
    nn.c:nn_adam_lr_t nn.c:nn_adam_update_scalar

path "before and after the loop: the ratings file, the model, its file" \
    data.c:data_read_ratings data.c:read_plain data.c:lines_next data.c:add_rows \
    data.c:data_parse_row data.c:parse_line data.c:data_parse_add \
    mf.c:mf_init mf.c:mf_layout mf.c:point_tensors mf.c:init_weights \
    formats/model_file.c:mf_save formats/model_file.c:write_model
