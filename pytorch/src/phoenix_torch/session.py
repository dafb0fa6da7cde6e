"""One trainer process under Phoenix: resume or start, checkpoint, report, stop (the Java ``Trainer``'s
life cycle, for any PyTorch training loop).

    px = Phoenix(TrainState(model, optimizer, scheduler, data), total_steps=1000)
    step = px.start()                 # exact resume from PHOENIX_RESUME_STEP, or 0
    while step < px.total_steps:
        train_one_step(step)
        step += 1
        if px.step_done(step):        # periodic checkpoint, progress; True once a stop is agreed
            break
    sys.exit(px.finish(step))         # final or emergency checkpoint, termination message, exit code

``start`` raises ``PhoenixExit(65)`` (termination message written) when the resume checkpoint is missing
or invalid; ``Phoenix.main`` wraps a whole loop and turns exceptions into the contract's exit codes.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from . import distutil, termination
from .checkpoint import CheckpointError, Saved, load, save, verify
from .env import PhoenixEnv
from .inventory import Inventory
from .report import ConfigMapStore, KubeConfigMapStore, Reporter
from .signals import StopSignal
from .state import TrainState
from .store import MANIFEST, CheckpointStore

log = logging.getLogger(__name__)


class PhoenixExit(SystemExit):
    """Ends the process with a contract exit code; the termination message is already written."""


class Phoenix:
    def __init__(self, state: TrainState, env: PhoenixEnv | None = None, *, total_steps: int | None = None,
                 report_store: ConfigMapStore | None = None, stop: StopSignal | None = None,
                 stop_at_step: int = -1) -> None:
        self.env = env or PhoenixEnv.from_environ()
        self.state = state
        self.state.rank = self.env.rank
        steps = total_steps if total_steps is not None else self.env.total_steps
        if steps is None or steps <= 0:
            raise ValueError("total_steps must be given (argument or PHOENIX_TOTAL_STEPS) and be > 0")
        self.total_steps = steps
        if self.env.resume_step > steps:
            raise ValueError(f"PHOENIX_RESUME_STEP={self.env.resume_step} is beyond the total steps {steps}")
        self.store = CheckpointStore(self.env.checkpoint_dir)
        self.inventory = Inventory(self.store, self.env.job_uid)
        self.stop = stop or StopSignal()
        self.stop_at_step = stop_at_step
        self.reporter: Reporter | None = None
        if self.env.is_root and (report_store is not None or self.env.report_configmap):
            store = report_store or KubeConfigMapStore(self.env.namespace, self.env.report_configmap or "")
            self.reporter = Reporter(store, self.env.progress_interval_seconds)
        self.resumed_from = 0
        self.last: dict[str, Any] | None = None  # the checkpoint report of the newest checkpoint
        self.last_save_seconds = -1.0
        self._stopped = False

    # --- start ---

    def start(self) -> int:
        self.stop.install()
        distutil.init_distributed(self.env)
        e = self.env
        log.info("job %s pod %s attempt %d timeline %s rank %d/%d resume-step %d steps %d checkpoint-dir %s interval %d keep %d",
                 e.job_name, e.pod_name, e.attempt, e.timeline, e.rank, e.world_size, e.resume_step, self.total_steps,
                 e.checkpoint_dir, e.checkpoint_interval, e.checkpoint_keep)
        failure = self._owner_problem() if e.is_root else None
        failure = distutil.broadcast(failure)
        step = e.resume_step if e.resuming else 0
        if failure is None and not e.resume_exact:
            # Rank 0 chooses and every rank loads the same step.
            newer = distutil.broadcast(self._newer_of_this_timeline(step) if e.is_root else None)
            if newer is not None:
                step = newer
        if failure is None and step > 0:
            try:
                loaded = load(self.store, self.state, step, e.job_uid)
            except CheckpointError as err:
                failure = str(err)
            else:
                m = loaded.manifest
                self.resumed_from = step
                self.last = {"step": step, "digest": loaded.digest, "stateDigest": m["stateDigest"],
                             "attempt": m["attempt"], "timeline": e.timeline, "time": m["createdAt"]}
                self.inventory.add_verified(step, loaded.digest, m["stateDigest"])
                log.info("resumed from step %d (timeline %s attempt %s): %.2f MB verified and loaded in %.3f s, stateDigest %s",
                         step, m["timeline"], m["attempt"], loaded.bytes / 1e6, loaded.seconds, m["stateDigest"])
        if failure is not None:
            log.error("cannot resume from step %d: %s", step, failure)
            termination.write(e.termination_log, termination.message("CheckpointInvalid", step, message=failure))
            self._close()
            raise PhoenixExit(termination.CHECKPOINT_INVALID)
        if e.is_root:
            self.store.ensure_root()
            self.store.move_aside_newer_than(self.resumed_from)
            self._report_inventory(30.0)
        distutil.broadcast(True)  # nobody writes before the aside-moves are done
        if step == 0:
            log.info("fresh start")
        return self.resumed_from

    def _newer_of_this_timeline(self, known: int) -> int | None:
        """With PHOENIX_RESUME_EXACT=false: the newest committed checkpoint of this timeline newer than the
        operator's step that verifies. Such a directory is this job's own work whose report had not reached
        the operator before the gang restarted; a timeline is linear, so resuming from it is what an
        uninterrupted run would have done, and moving it aside would throw valid work away."""
        for step in sorted(self.store.committed(), reverse=True):
            if step <= known:
                break
            if step > self.total_steps:
                continue
            timeline = self.store.timeline_of(self.store.step_dir(step))
            if timeline != self.env.timeline:
                continue
            try:
                verify(self.store, step, self.env.job_uid)
            except CheckpointError as err:
                log.warning("not resuming from newer step %d: %s", step, err)
                continue
            log.warning("step %d (timeline %s) is newer than resume step %d and verifies: resuming from it "
                        "instead of moving it aside", step, timeline, known)
            return step
        return None

    def _owner_problem(self) -> str | None:
        if not self.env.job_uid:
            return None
        for step, d in self.store.committed().items():
            try:
                owner = json.loads((d / MANIFEST).read_text("utf-8")).get("jobUid")
            except (OSError, ValueError, AttributeError):
                continue
            if owner and owner != self.env.job_uid:
                return (f"{self.store.root} holds checkpoints of another job (job UID {owner} in {d.name}); "
                        f"this job is {self.env.job_uid}: refusing to use or move them")
        return None

    # --- during training ---

    def step_done(self, step: int) -> bool:
        """Call after each optimizer step with the new step count. Returns True when training must stop
        (a stop was requested on any rank; all ranks agree after the same step)."""
        if self.reporter is not None:
            self.reporter.progress(step, self.env.attempt, self.env.timeline)
        local = self.stop.requested or step == self.stop_at_step
        stop = distutil.any_true(local) and step < self.total_steps
        if (not stop and self.env.checkpoint_interval > 0 and step % self.env.checkpoint_interval == 0
                and step < self.total_steps):
            self.checkpoint(step, "periodic")
        if stop:
            log.warning("stopping after step %d (%s)", step, self.stop.reason or "stop_at_step")
            self._stopped = True
        return stop

    def checkpoint(self, step: int, kind: str = "periodic", report_timeout: float = 30.0) -> dict[str, Any]:
        """Saves, re-verifies, reports and applies retention (collective)."""
        saved: Saved = save(self.store, self.state, step, attempt=self.env.attempt, timeline=self.env.timeline,
                            job_uid=self.env.job_uid)
        report = {"step": step, "digest": saved.digest, "stateDigest": saved.state_digest,
                  "attempt": self.env.attempt, "timeline": self.env.timeline, "time": saved.manifest["createdAt"]}
        if self.env.is_root:
            try:
                v = verify(self.store, step, self.env.job_uid)
            except CheckpointError as err:
                raise OSError(f"checkpoint {saved.directory} failed re-verification: {err}") from err
            if v.digest != saved.digest:
                raise OSError(f"checkpoint {saved.directory} re-verification digest {v.digest} != {saved.digest}")
            self.last_save_seconds = saved.seconds + v.seconds
            log.info("checkpoint %s step %d saved in %.3f s (%.2f MB) and re-verified in %.3f s: digest %s stateDigest %s",
                     kind, step, saved.seconds, saved.bytes / 1e6, v.seconds, saved.digest, saved.state_digest)
            self.inventory.add_verified(step, saved.digest, saved.state_digest)
            deleted = self.store.retain(self.env.checkpoint_keep, self.resumed_from)
            if deleted:
                log.info("retention (keep %d): deleted steps %s", self.env.checkpoint_keep, deleted)
            self._report_checkpoint(report, report_timeout)
        self.last_save_seconds = distutil.broadcast(self.last_save_seconds)
        self.last = report
        return report

    def _report_checkpoint(self, report: dict[str, Any], timeout: float) -> None:
        """One write: the checkpoint, the inventory that lists it (after retention) and progress at its
        step; the operator rejects a checkpoint report whose inventory does not list it."""
        if self.reporter is not None:
            self.reporter.report_checkpoint(report, timeout, inventory=self.inventory.entries(),
                                            resumed_from=self.resumed_from)

    def _report_inventory(self, timeout: float) -> None:
        if self.reporter is not None:
            self.reporter.report_inventory(self.inventory.entries(), self.env.attempt, self.env.timeline, timeout,
                                           resumed_from=self.resumed_from)

    # --- the end ---

    def finish(self, step: int) -> int:
        """Writes the final checkpoint (all steps done) or the emergency checkpoint (stopped), the
        termination message, and returns the exit code (0 or 143). Every rank calls it."""
        try:
            if step >= self.total_steps and not self._stopped:
                rep = self.last if self.last is not None and self.last["step"] == step else self.checkpoint(step, "final")
                if self.last is rep:
                    self._report_checkpoint(rep, 30.0)
                msg = termination.message("Succeeded", step, stateDigest=rep["stateDigest"], digest=rep["digest"])
                print(f"final step {step} stateDigest {rep['stateDigest']}", flush=True)
                code = termination.SUCCEEDED
            else:
                emergency = self._emergency(step)
                msg = dict(emergency, result="Terminated") if emergency else termination.message("Terminated", step)
                code = termination.TERMINATED
            termination.write(self.env.termination_log, msg)
            return code
        finally:
            self._close()

    def _emergency(self, step: int) -> dict[str, Any] | None:
        left = self.env.grace_seconds - self.stop.seconds_since_request()
        if self.last is not None and self.last["step"] == step:
            log.info("step %d is already checkpointed", step)
            self._report_checkpoint(self.last, max(1.0, left))
            return self.last
        estimate = self.last_save_seconds if self.last_save_seconds > 0 else self._state_bytes() / 40e6 + 0.5
        go = distutil.broadcast(estimate * 1.5 + 1.0 <= left)
        if not go:
            log.warning("no emergency checkpoint: a save takes about %.3f s, %.3f s of the grace period left", estimate, left)
            return None
        try:
            return self.checkpoint(step, "emergency", max(0.5, left - estimate * 1.5))
        except (OSError, RuntimeError) as err:
            log.error("emergency checkpoint failed: %s", err)
            return None

    def _state_bytes(self) -> int:
        n = 0
        for p in self.state.model.parameters():
            n += p.numel() * p.element_size()
        return n * 3 if self.state.optimizer is not None else n

    def _close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()

    @staticmethod
    def main(run: Callable[[], int], termination_log: str | None = None) -> None:
        """Runs ``run`` (which returns an exit code) and exits with it; an unexpected exception becomes
        exit 1 with a ``Failed`` termination message, a ContractError/ValueError exit 2."""
        from pathlib import Path

        from .env import ContractError
        log_path = Path(termination_log) if termination_log else None
        try:
            code = run()
        except PhoenixExit:
            raise
        except (ContractError, ValueError) as err:
            log.error("bad usage: %s", err)
            _write_failure(log_path, termination.message("Failed", message=f"bad usage: {err}"))
            code = termination.BAD_USAGE
        except Exception as err:
            log.exception("trainer failed")
            # A collective broken by a vanished peer is the peer's fate, not this program's (docs/design.md).
            result = "PeerLost" if peer_lost(err) else "Failed"
            _write_failure(log_path, termination.message(result, message=repr(err)))
            code = termination.FAILED
        sys.exit(code)


# What gloo and NCCL raise when the other end of a collective is gone.
_PEER_LOST_MARKERS = ("Connection closed by peer", "Connection reset by peer", "Broken pipe",
                      "NCCL communicator was aborted", "remote process exited or there was a network error")


def peer_lost(err: BaseException) -> bool:
    """True when ``err`` (or its cause) is a collective failing because a peer vanished."""
    e: BaseException | None = err
    while e is not None:
        if isinstance(e, (ConnectionError, EOFError)):
            return True
        if isinstance(e, RuntimeError) and any(m in str(e) for m in _PEER_LOST_MARKERS):
            return True
        e = e.__cause__ or e.__context__
    return False


def _write_failure(path: Any, body: dict[str, Any]) -> None:
    from pathlib import Path
    target = path or Path(PhoenixEnv.from_environ().termination_log if _env_ok() else "/dev/termination-log")
    termination.write(target, body)


def _env_ok() -> bool:
    try:
        PhoenixEnv.from_environ()
        return True
    except ValueError:
        return False
