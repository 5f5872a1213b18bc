/* cli/summary.c — a model's layers as Keras's model.summary() prints them
 * (see summary.h), from its configuration alone. */
#include "cli/summary.h"

#include <stdio.h>

/* 2376075 -> "2,376,075" */
static const char *with_commas(char *buf, size_t n) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), k, o = 0;
    for (k = 0; k < len; k++) {
        if (k > 0 && (len - k) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[k];
    }
    buf[o] = '\0';
    return buf;
}

static void summary_row(FILE *out, const char *name, const char *type, size_t width,
                        size_t params, size_t *total) {
    char layer[64], shape[32], count[32];
    snprintf(layer, sizeof layer, "%s (%s)", name, type);
    snprintf(shape, sizeof shape, "(None, %zu)", width);
    fprintf(out, "%-32s%-21s%s\n", layer, shape, with_commas(count, params));
    fprintf(out, "%s\n", "_________________________________________________________________");
    *total += params;
}

size_t mf_summary(FILE *out, const mf_config *c, size_t n_users, size_t n_items,
                  size_t n_genres) {
    size_t total = 0, K = c->dim, l;
    char name[32], count[32];
    fprintf(out, "Model: \"%s\"\n", mf_kind_name(c->kind));
    fprintf(out, "_________________________________________________________________\n");
    fprintf(out, "%-32s%-21s%s\n", "Layer (type)", "Output Shape", "Param #");
    fprintf(out, "=================================================================\n");
    summary_row(out, "user_embedding", "Embedding", K, n_users * K, &total);
    summary_row(out, "item_embedding", "Embedding", K, n_items * K, &total);
    if (c->kind == MF_SVDPP) { /* ũ = p_u + |N(u)|^-½ Σ_{j ∈ N(u)} y_j */
        summary_row(out, "implicit_embedding", "Embedding", K, n_items * K, &total);
        summary_row(out, "implicit_sum", "Lambda", K, 0, &total);
        summary_row(out, "add_implicit", "Add", K, 0, &total);
    }
    if (c->kind == MF_DOT || c->kind == MF_BIAS || c->kind == MF_SVDPP) {
        summary_row(out, "dot", "Dot", 1, 0, &total);
        if (c->kind != MF_DOT) {
            summary_row(out, "user_bias", "Embedding", 1, n_users, &total);
            summary_row(out, "item_bias", "Embedding", 1, n_items, &total);
            summary_row(out, "add_mean_and_biases", "Add", 1, 0, &total);
        } else if (c->centre) {
            summary_row(out, "add_mean", "Lambda", 1, 0, &total);
        }
    } else {
        if (c->kind == MF_DEEP)
            summary_row(out, "genre_embedding", "Embedding", K, n_genres * K, &total);
        if (c->kind == MF_NCF) {
            summary_row(out, "user_mlp_embedding", "Embedding", K, n_users * K, &total);
            summary_row(out, "item_mlp_embedding", "Embedding", K, n_items * K, &total);
            summary_row(out, "gmf", "Multiply", K, 0, &total);
        }
        if (c->kind == MF_DEEP || c->kind == MF_MLP || c->kind == MF_NCF) { /* concatenated */
            summary_row(out, "concatenate", "Concatenate", mf_layer_in(c, 0), 0, &total);
            summary_row(out, "dropout_1", "Dropout", mf_layer_in(c, 0), 0, &total);
        } else {
            summary_row(out, "user_dropout", "Dropout", K, 0, &total);
            summary_row(out, "item_dropout", "Dropout", K, 0, &total);
            summary_row(out, "multiply", "Multiply", K, 0, &total);
        }
        for (l = 0; l <= c->n_hidden; l++) {
            size_t in = mf_layer_in(c, l), o = mf_layer_out(c, l);
            nn_activation act = l < c->n_hidden ? c->hidden_act : NN_SIGMOID;
            if (c->kind == MF_NCF && l == c->n_hidden)
                summary_row(out, "fuse_gmf_mlp", "Concatenate", in, 0, &total);
            snprintf(name, sizeof name, "dense_%zu", l + 1);
            summary_row(out, name, "Dense", o, in * o + o, &total); /* kernel + bias */
            if (act != NN_LINEAR) {
                snprintf(name, sizeof name, "%s_%zu", nn_activation_name(act), l + 1);
                summary_row(out, name, "Activation", o, 0, &total);
            }
            if (l < c->n_hidden) {
                snprintf(name, sizeof name, "dropout_%zu", l + 2);
                summary_row(out, name, "Dropout", o, 0, &total);
            }
        }
        if (!c->implicit) summary_row(out, "scale_to_ratings", "Lambda", 1, 0, &total);
    }
    fprintf(out, "Total params: %s\n", with_commas(count, total));
    fprintf(out, "Trainable params: %s\n", with_commas(count, total));
    fprintf(out, "Non-trainable params: 0\n");
    fprintf(out, "_________________________________________________________________\n");
    return total;
}

