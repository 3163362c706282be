"""--track (Weights & Biases, offline here) and --capture-video: the wandb run holds the history rows, the videos hold
the evaluation episode drawn as `gazelab eval` draws it, and neither switch changes the learning."""

import json
import struct
import sys
import time

import imageio.v3 as iio
import pytest
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from gazelab.cli import main
from gazelab.envs import make_env
from gazelab.rl.algorithms import load_policy
from gazelab.rl.config import saved_config
from gazelab.rl.ppo import PPOConfig, train_ppo
from gazelab.rl.sac import SACConfig, train_sac
from gazelab.rl.tracking import VIDEO_TAG
from gazelab.rl.video import image_cnn, record_episode, write_video

wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs the track extra (wandb)")

TINY = dict(env_id="gazelab/Reach-v0", seed=3, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
            total_timesteps=4 * 128, encoder="nature", attention="gaze", eval_freq=2, num_eval_envs=2,
            num_eval_episodes=2, checkpoint_every=2, progress=False)
"""4 PPO iterations of 128 steps, evaluated (and checkpointed) after the 2nd and the 4th: steps 256 and 512."""


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """wandb offline and quiet: it never reaches the network nor asks for a login."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def wait_until_written(offline_run, timeout=60.0):
    """Wait for wandb's service process to close an offline run's files: ``run.finish()`` returns once the run has
    ended, and the service may still be writing its last records (a busy CI machine read a file without them)."""
    log = offline_run / "logs" / "debug-internal.log"
    deadline = time.monotonic() + timeout
    while not (log.exists() and "stream: all finished" in log.read_text()):
        assert time.monotonic() < deadline, f"wandb did not finish writing {offline_run} in {timeout} s"
        time.sleep(0.05)


def wandb_records(run_dir):
    """{run file: its records} of every offline wandb run under ``run_dir/wandb`` (the .wandb file is a LevelDB-style
    log of protobuf records: 7-byte header, 32 KiB blocks, records split into chunks with a 7-byte header each)."""
    runs = {}
    for path in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):
        wait_until_written(path.parent)
        data, records, chunks, pos = path.read_bytes(), [], b"", 7
        assert data[:4] == b":W&B"
        while pos + 7 <= len(data):
            left = 32768 - pos % 32768
            _, length, kind = struct.unpack("<IHB", data[pos:pos + 7]) if left >= 7 else (0, 0, 0)
            if kind == 0:  # block trailer padding
                pos += left
                continue
            chunks += data[pos + 7:pos + 7 + length]
            pos += 7 + length
            if kind in (1, 4):  # FULL, LAST
                record = wandb_pb.Record()
                record.ParseFromString(chunks)
                records.append(record)
                chunks = b""
        runs[path] = records
    return runs


def wandb_history(records):
    """The rows a wandb run logged, as {key: value} with wandb's own ``_step`` (and ``_runtime``, ...); a media value
    (a video) is a dict of its fields (path, sha256, ...)."""
    rows = []
    for r in records:
        if r.WhichOneof("record_type") == "history":
            row = {}
            for item in r.history.item:
                if len(item.nested_key) > 1:
                    row.setdefault(item.nested_key[0], {})[item.nested_key[-1]] = json.loads(item.value_json)
                else:
                    row[item.key or item.nested_key[0]] = json.loads(item.value_json)
            rows.append(row)
    return rows


def history_file(run_dir):
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def comparable(history):
    return [{k: v for k, v in row.items() if k not in ("time", "charts/SPS")} for row in history]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny PPO run without and with both switches (wandb offline)."""
    root = tmp_path_factory.mktemp("tracking")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        plain = train_ppo(PPOConfig(**TINY, run_dir=str(root / "plain")))
        tracked = train_ppo(PPOConfig(**TINY, run_dir=str(root / "tracked"), track=True, wandb_group="Reach/gaze",
                                      capture_video=True))
    return plain, tracked


def test_neither_switch_changes_the_learning(runs):
    plain, tracked = runs
    assert len(plain.history) == 4
    assert comparable(tracked.history) == comparable(plain.history)


def test_an_offline_tracked_run_logs_the_history_rows_to_wandb(runs):
    _, tracked = runs
    (path, records), = wandb_records(tracked.run_dir).items()
    rows = wandb_history(records)
    assert [row["_step"] for row in rows] == [0, 1, 2, 3]  # a row's index in history.jsonl
    scalars = [{k: v for k, v in row.items() if not k.startswith("_") and k != VIDEO_TAG} for row in rows]
    assert scalars == history_file(tracked.run_dir)
    assert [VIDEO_TAG in row for row in rows] == [False, True, False, True]  # the evaluations' rows
    assert rows[1][VIDEO_TAG]["_type"] == "video-file"
    assert (path.parent / "files" / rows[1][VIDEO_TAG]["path"]).read_bytes() == (
        tracked.run_dir / "videos" / "step_256.mp4").read_bytes()
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    record = json.loads((tracked.run_dir / "config.json").read_text())
    assert run.run_id == record["wandb_id"] and path.name == f"run-{run.run_id}.wandb"
    assert (run.project, run.run_group, run.display_name) == ("gazelab", "Reach/gaze", "gazelab-Reach-v0__gaze__s3")
    logged_config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert logged_config["algo"] == "ppo" and logged_config["capture_video"] is True


def test_a_captured_video_is_the_first_evaluation_episode_with_the_fovea(runs, tmp_path):
    """The video of step 256 holds what `gazelab eval`'s renderer draws when the policy of that step plays the first
    episode of the evaluation envs; the same GIF is in TensorBoard at that step."""
    _, tracked = runs
    videos = tracked.run_dir / "videos"
    assert sorted(p.name for p in videos.iterdir()) == ["step_256.gif", "step_256.mp4", "step_512.gif",
                                                        "step_512.mp4"]
    agent, config, _ = load_policy(tracked.run_dir / "ckpt_256.pt", "cpu")
    env = make_env(config.env_id, config.num_eval_envs, seed=config.seed + 1, **config.env_kwargs())
    frames, episode = record_episode(agent.act, env, encoder=image_cnn(agent))
    assert len(frames) == episode["episode_len"] + 1  # every observation the policy saw, and the last
    expected = write_video(frames, tmp_path / "expected")[0]
    assert (iio.imread(videos / "step_256.gif", index=None) == iio.imread(expected, index=None)).all()

    events = EventAccumulator(str(tracked.run_dir), size_guidance={IMAGES: 0})
    events.Reload()
    logged = events.Images(VIDEO_TAG)
    assert [image.step for image in logged] == [256, 512]
    assert logged[0].encoded_image_string == (videos / "step_256.gif").read_bytes()
    assert (logged[0].width, logged[0].height) == (256, 256)


def test_capture_video_every_films_every_nth_evaluation_and_the_last(tmp_path):
    result = train_ppo(PPOConfig(**{**TINY, "eval_freq": 1}, run_dir=str(tmp_path / "r"), capture_video=True,
                                 capture_video_every=3))
    assert sorted(p.name for p in (result.run_dir / "videos").glob("*.gif")) == ["step_128.gif", "step_512.gif"]


def test_a_resumed_tracked_run_continues_its_wandb_run(tmp_path):
    run_dir = tmp_path / "r"
    train_ppo(PPOConfig(**{**TINY, "total_timesteps": 256}, run_dir=str(run_dir), track=True))
    first_id = json.loads((run_dir / "config.json").read_text())["wandb_id"]
    train_ppo(saved_config(PPOConfig, run_dir, total_timesteps=512))
    record = json.loads((run_dir / "config.json").read_text())
    assert record["wandb_id"] == first_id and record["earlier"][0]["wandb_id"] == first_id
    segments = list(wandb_records(run_dir).values())
    assert len(segments) == 2  # one offline directory per start, both of the same wandb run
    assert {r.run.run_id for records in segments for r in records if r.WhichOneof("record_type") == "run"} == {
        first_id}
    rows = [row for records in segments for row in wandb_history(records)]
    assert [row["_step"] for row in rows] == [0, 1, 2, 3]
    assert [row["global_step"] for row in rows] == [row["global_step"] for row in history_file(run_dir)]


def test_sac_captures_videos_and_tracks_too(tmp_path):
    config = SACConfig(env_id="gazelab/Reach-v0", seed=5, num_envs=4, training_freq=16, utd=0.125, batch_size=32,
                       buffer_size=1024, learning_starts=64, total_timesteps=8 * 16, encoder="nature",
                       attention="gaze", eval_freq=4, num_eval_envs=1, num_eval_episodes=1, log_freq=16,
                       progress=False, run_dir=str(tmp_path / "sac"), track=True, capture_video=True)
    result = train_sac(config)
    assert (result.run_dir / "videos" / f"step_{result.final['global_step']}.gif").exists()
    (records,) = wandb_records(result.run_dir).values()
    assert len(wandb_history(records)) == len(result.history)


def test_cleanrl_flags_on_the_command_line(tmp_path):
    run_dir = tmp_path / "r"
    assert main(["train", "ppo", "--env-id", "gazelab/Reach-v0", "--num-envs", "4", "--num-steps", "8",
                 "--num-minibatches", "2", "--update-epochs", "1", "--encoder", "nature", "--eval-freq", "1",
                 "--num-eval-envs", "1", "--num-eval-episodes", "1", "--total-timesteps", "32", "--no-progress",
                 "--run-dir", str(run_dir), "--track", "--wandb-project-name", "class", "--wandb-entity", "me",
                 "--wandb-group", "week3", "--capture-video"]) == 0
    (records,) = wandb_records(run_dir).values()
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert (run.project, run.entity, run.run_group) == ("class", "me", "week3")
    assert (run_dir / "videos" / "step_32.gif").exists()


def test_track_without_wandb_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # importlib.util.find_spec then finds no wandb
    with pytest.raises(ValueError, match=r'track=True .* not installed: pip install "gazelab\[track\]"'):
        PPOConfig(**TINY, run_dir=str(tmp_path / "r"), track=True).resolve()
    assert not (tmp_path / "r").exists()


def test_capture_video_needs_evaluations(tmp_path):
    with pytest.raises(ValueError, match="capture_video=True films evaluation episodes, and eval_freq=0"):
        PPOConfig(**{**TINY, "eval_freq": 0}, capture_video=True).resolve()
