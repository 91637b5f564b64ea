"""(c) of the speed benchmarks: env-steps per second of a vector environment alone, random actions, timed for at
least --seconds after a one-second warm-up. ALE ids get ale-py's native vector env with ppo_atari_ale_vector.py's
settings (upstream CleanRL's wrappers as settings); other ids a SyncVectorEnv of gymnasium.make. Makes the env itself:
it imports no training script.

    python benchmarks/env_sps.py --env-id ALE/Phoenix-v5 --num-envs 8 --seconds 3
"""

import argparse
import time

import gymnasium as gym

ATARI = dict(noop_max=30, frameskip=4, maxpool=True, use_fire_reset=True, episodic_life=False, life_loss_info=True,
             reward_clipping=False, img_height=84, img_width=84, grayscale=True, stack_num=4)  # fmt: skip


def make_envs(env_id, num_envs):
    same_step = gym.vector.AutoresetMode.SAME_STEP
    if env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
        return gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point", autoreset_mode=same_step, **ATARI)
    return gym.make_vec(env_id, num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": same_step})


def env_steps_per_second(env_id, num_envs, seconds, warmup=1.0):
    envs = make_envs(env_id, num_envs)
    envs.reset(seed=1)
    envs.action_space.seed(1)
    start, steps = time.perf_counter(), 0
    while (now := time.perf_counter()) - start < warmup + seconds:
        if now - start < warmup:
            timed_start, steps = time.perf_counter(), 0
        envs.step(envs.action_space.sample())
        steps += 1
    rate = steps * num_envs / (time.perf_counter() - timed_start)
    envs.close()
    return rate


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="ALE/Phoenix-v5")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(f"env-steps/s: {env_steps_per_second(args.env_id, args.num_envs, args.seconds):.1f}")
