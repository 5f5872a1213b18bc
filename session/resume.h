/* session/resume.h — what a training run keeps with the model so that a
 * later one (--resume, mf_session.resume) goes on as if it had never
 * stopped, and how that later one takes it up: the epochs done,
 * EarlyStopping's best and counter, the optimiser's state, the training
 * counts, the random generators as the next epoch starts, and the run's
 * settings (mf_model.progress and mf_model.opt_state, which model files
 * keep).
 *
 * mf_train (mf.c) calls these as it opens and closes a run and as each
 * epoch begins; a run that resumes nothing passes through them unchanged.
 */
#ifndef EMBREC_SESSION_RESUME_H
#define EMBREC_SESSION_RESUME_H

#include "mf.h"

/* a resumed run whose total of epochs is already done; 0, or -1 with err */
int session_resume_check(const mf_model *m, const mf_train_config *cfg, data_error *err);
/* Before the run's engine begins (hist->epoch allocated): a resumed run's
 * epochs before it, unmeasured in hist but for the best, whose score and
 * EarlyStopping's counter go to *best and *wait; for any run, the
 * optimiser's state the model keeps, when it is this optimiser's. Returns
 * the first epoch to run (from 0). */
size_t session_resume_start(mf_run *run, mf_history *hist, double *best, size_t *wait);
/* 1 when a resumed run's model holds its best epoch's weights (a
 * ModelCheckpoint copy of them starts the run) */
int session_resumed_at_best(const mf_run *run);
/* a resumed run's training counts: the larger of the saved ones and
 * train's, so that the same data gives what one run would have and more
 * data raises them; 0 or -1 (no memory) */
int session_count_resumed(mf_model *m, const data_ratings *train);
/* Once the engine has begun and the dropout generators are seeded: a
 * resumed run's generators as it left them, and room in the model's
 * progress for them; 0 or -1 (no memory). */
int session_streams_open(mf_run *run);
/* the generators into the model's progress (each epoch, before it draws anything) */
void session_streams_save(mf_run *run);
/* As the run returns (rc: how it ended): the generators as the next epoch
 * would start them (when it ended well), the optimiser's state (run->opt,
 * which goes with the model's weights), EarlyStopping's state (best_known:
 * hist->best was measured on validation rows; wait; at_best: the model's
 * weights are that epoch's) and the run's settings, into the model. */
void session_resume_keep(mf_run *run, const mf_history *hist, int rc, int best_known,
                         size_t wait, int at_best);

#endif
