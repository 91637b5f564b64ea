#!/usr/bin/env bash
# Frames per second of drqv2_reset_rule.py on this machine, evaluation time excluded (charts/SPS):
# 1. collection only (seed phase: uniform actions and rendering, no update, so no replay sampling: --replay uniform
#    lets the 2000 seed frames be fewer than the loader's 4 episodes), DrQ-v2's rendering vs --fast-render;
# 2. training: DrQ-v2's updates at the easy settings (batch 256, or 512 for walker; hidden 1024; one update every
#    4 frames; the default --replay loader) after 400 seed frames (4 episodes of 100 frames, one for each loader
#    worker), --reset-rule (reading the norm at every update: the costlier --reset-check) vs --no-reset-rule. The
#    update phase's rate is computed from the cumulative SPS at the end of the 4th (seed) and 5th (update) episode.
# One run at a time, one torch thread (OMP_NUM_THREADS=1). TensorBoard logs land in runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
env=${ENV:-cartpole_swingup}
common=(--env-id "$env" --num-eval-episodes 1 --eval-every-frames 1000000)
sps() { grep -o 'SPS[^:]*: [0-9.]*' | awk '{print $NF}' | tr '\n' ' '; }
for render in default fast; do
  flag=(); [ "$render" = fast ] && flag=(--fast-render)
  out=$(OMP_NUM_THREADS=1 python drqv2_reset_rule.py "${common[@]}" "${flag[@]}" --num-train-frames 2000 \
    --num-seed-frames 2000 --replay uniform --exp-name "drqv2_fps_collect_$render" | sps)
  echo "$env collection ($render rendering): SPS per 1000-frame episode: $out"
done
for rule in reset-rule no-reset-rule; do
  start=$(date +%s)
  out=$(OMP_NUM_THREADS=1 python drqv2_reset_rule.py "${common[@]}" --fast-render --"$rule" --reset-check update \
    --max-episode-frames 100 --num-train-frames 500 --num-seed-frames 400 --num-expl-steps 200 --exp-name "drqv2_fps_train_$rule" | sps)
  echo "$out" | awk -v env="$env" -v rule="$rule" -v wall=$(( $(date +%s) - start )) '{t = 500 / $5 - 400 / $4;
    printf "%s training (--%s, --fast-render): seed phase %.1f fps, update phase %.2f fps (%.2f s per update), wall %d s\n",
    env, rule, $4, 100 / t, t / 25, wall}'
done
