package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.operator.observe.Report;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.regex.Pattern;

/**
 * Decides whether a report is believed, against what the trainer can have written: digests in the
 * trainer's format, a timeline id Phoenix hands out, an attempt that exists, a step within the
 * job's total steps and not ahead of the progress written with it, and (for the ConfigMap's
 * checkpoint key) a checkpoint the inventory written with it lists. A rejected report is a
 * condition and an event, never a status value (docs/design.md, "Checkpoint truth and safety").
 * Pure.
 */
public final class ReportValidator {
    static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    static final Pattern TIMELINE = Pattern.compile("t[0-9]{1,9}");
    static final Pattern UID = Pattern.compile("[0-9A-Za-z-]{1,64}");

    private final TrainingJobStatus status;
    private final OptionalLong totalSteps;
    private final String jobUid;

    ReportValidator(TrainingJobStatus status, OptionalLong totalSteps, String jobUid) {
        this.status = status;
        this.totalSteps = totalSteps;
        this.jobUid = jobUid;
    }

    /**
     * A checkpoint report (ConfigMap key, or a pod's termination message when progress and
     * inventory are null).
     */
    List<String> checkpoint(
            String source, Report r, Report.Progress progress, Report.Inventory inventory) {
        List<String> p = new ArrayList<>();
        String where = source + " (step " + r.step() + ")";
        if (!TIMELINE.matcher(String.valueOf(r.timeline())).matches()) {
            p.add(where + ": timeline is not a Phoenix timeline id");
            return p;
        }
        step(where, r.step(), p);
        if (!DIGEST.matcher(String.valueOf(r.digest())).matches()) {
            p.add(where + ": digest is not sha256:<64 hex digits>");
        }
        if (r.stateDigest() != null && !DIGEST.matcher(r.stateDigest()).matches()) {
            p.add(where + ": stateDigest is not sha256:<64 hex digits>");
        }
        attempt(where, r.attempt(), p);
        if (progress != null
                && Objects.equals(progress.timeline(), r.timeline())
                && Objects.equals(progress.attempt(), r.attempt())
                && r.step() > progress.step()) {
            p.add(
                    where
                            + ": ahead of the progress reported with it (step "
                            + progress.step()
                            + ")");
        }
        if (inventory != null
                && Objects.equals(inventory.timeline(), r.timeline())
                && inventory.checkpoints() != null
                && inventory.checkpoints().stream()
                        .noneMatch(
                                e ->
                                        Objects.equals(e.step(), r.step())
                                                && Objects.equals(e.digest(), r.digest()))) {
            p.add(where + ": not in the inventory of checkpoints on disk reported with it");
        }
        return p;
    }

    List<String> progress(Report.Progress r) {
        List<String> p = new ArrayList<>();
        String where = "progress report (step " + r.step() + ")";
        if (r.timeline() != null && !TIMELINE.matcher(r.timeline()).matches()) {
            p.add(where + ": timeline is not a Phoenix timeline id");
        }
        step(where, r.step(), p);
        attempt(where, r.attempt(), p);
        return p;
    }

    List<String> inventory(Report.Inventory inv) {
        List<String> p = new ArrayList<>();
        String where = "inventory report";
        if (!TIMELINE.matcher(String.valueOf(inv.timeline())).matches()) {
            p.add(where + ": timeline is not a Phoenix timeline id");
            return p;
        }
        attempt(where, inv.attempt(), p);
        if (inv.resumedFrom() != null) {
            step(where + " resumedFrom", inv.resumedFrom(), p);
        }
        if (inv.jobUid() != null
                && (!UID.matcher(inv.jobUid()).matches()
                        || (jobUid != null && !jobUid.equals(inv.jobUid())))) {
            p.add(
                    where
                            + ": written for job uid "
                            + abbreviate(inv.jobUid())
                            + ", this job is "
                            + jobUid);
        }
        if (inv.checkpoints().size() > dev.phoenix.operator.status.CheckpointHistory.LIMIT) {
            p.add(
                    where
                            + ": "
                            + inv.checkpoints().size()
                            + " entries, more than the "
                            + dev.phoenix.operator.status.CheckpointHistory.LIMIT
                            + " a trainer lists");
            return p;
        }
        Long previous = null;
        for (Report.Inventory.Entry e : inv.checkpoints()) {
            if (e.step() == null) {
                p.add(where + ": an entry without a step");
                continue;
            }
            String w = where + " entry step " + e.step();
            step(w, e.step(), p);
            if (previous != null && e.step() >= previous) {
                p.add(w + ": not newest first");
            }
            previous = e.step();
            if (!DIGEST.matcher(String.valueOf(e.digest())).matches()
                    || (e.stateDigest() != null && !DIGEST.matcher(e.stateDigest()).matches())) {
                p.add(w + ": digest is not sha256:<64 hex digits>");
            }
            if (e.timeline() != null && !TIMELINE.matcher(e.timeline()).matches()) {
                p.add(w + ": timeline is not a Phoenix timeline id");
            }
        }
        return p;
    }

    private void step(String where, long step, List<String> p) {
        if (step < 0) {
            p.add(where + ": negative step");
        } else if (totalSteps.isPresent() && step > totalSteps.getAsLong()) {
            p.add(where + ": beyond the job's total steps (" + totalSteps.getAsLong() + ")");
        }
    }

    private void attempt(String where, Integer attempt, List<String> p) {
        if (attempt == null || attempt < 1 || attempt > status.attemptOrZero()) {
            p.add(
                    where
                            + ": attempt "
                            + attempt
                            + " is not an attempt of this job (latest "
                            + status.attemptOrZero()
                            + ")");
        }
    }

    static String abbreviate(String s) {
        return s == null ? "null" : s.length() <= 64 ? s : s.substring(0, 61) + "...";
    }
}
