"""Human behaviour as a target: choices, ratings and similarity judgements in plain NWB.

The convention uses plain pynwb types only (no extension), so any lab can write it with
pynwb alone (docs/data-model.md, "Behaviour"):

* **trials**: one row per trial, either a ``DynamicTable`` named ``trials`` in the processing
  module ``behavior`` (what :func:`add_behaviour` writes: a ratings table carries no times) or
  a ``TimeIntervals`` table in ``intervals`` (a timed experiment) holding a choice or rating
  column. Columns: the stimulus (``stimulus_id`` text or ``stimulus_index`` integer, any of
  :data:`~neurofacedis.nwb.PRESENTATION_INDEX_COLUMNS`), the subject (``subject_id``; absent:
  the file's own subject), ``choice`` (text or integer; ``response`` is read too) and/or
  ``rating`` (number), optionally ``reaction_time`` (s) and ``target`` (the correct answer).
* **per-stimulus summaries**: a ``DynamicTable`` ``stimuli`` in ``behavior``: ``stimulus_id``
  and any of ``mean_rating`` and ``target``. Its row order is the stimulus order of integer
  stimulus indices and of the RDMs; without it, the file's stimulus set gives that order.
* **behavioural RDMs**: a ``DynamicTable`` ``similarity`` in ``behavior``: one row per subject,
  ``subject_id`` and ``rdm`` (stimuli x stimuli dissimilarities).

Every dataset is read through the one bounded reader (:func:`neurofacedis.nwb._lazy.
read_dataset`: declared size and element kind checked before reading), and files are opened by
:func:`neurofacedis.nwb.open_nwb` (links refused unless asked for). Bad input is one line naming
the file, the object and the problem.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from neurofacedis.nwb._lazy import check_declared_size, read_dataset

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BEHAVIOUR_MODULE",
    "Behaviour",
    "add_behaviour",
    "behaviour_from_table",
    "read_behaviour",
    "read_ratings",
    "write_behaviour",
]

#: The processing module holding behaviour (NWB's conventional name, American spelling).
BEHAVIOUR_MODULE = "behavior"

SUBJECT_COLUMNS = ("subject_id", "subject", "participant_id", "participant")
CHOICE_COLUMNS = ("choice", "response")
RATING_COLUMNS = ("rating",)
RT_COLUMNS = ("reaction_time", "rt", "response_time")
TARGET_COLUMNS = ("target", "correct_response")
#: Stimulus columns of a ratings table (CSV); NWB tables take PRESENTATION_INDEX_COLUMNS.
TABLE_STIMULUS_COLUMNS = ("stimulus_id", "stimulus", "image_id", "image", "stimulus_name")


@dataclass(frozen=True, eq=False)
class Behaviour:
    """Human behaviour over a set of stimuli: trials, per-stimulus summaries, RDMs.

    Attributes
    ----------
    stimulus_ids
        The stimuli, in the order of every per-stimulus array.
    subjects
        Subject ids; ``trials.subject`` indexes them.
    trials
        One row per trial: ``stimulus`` (index into ``stimulus_ids``), ``subject`` (index into
        ``subjects``), ``choice`` (index into ``choice_labels``, -1 none), ``rating`` (NaN
        none), ``reaction_time`` (s, NaN none). Empty when the file holds summaries only.
    choice_labels
        The answers a choice can take (text), sorted.
    targets
        The correct answer per stimulus (index into ``choice_labels``, -1 unknown), or None.
    mean_rating
        Mean rating per stimulus (NaN unrated), or None without ratings.
    rdms
        Dissimilarities (subject, stimulus, stimulus), or None; ``rdm_subjects`` names them.
    source
        The file (or "<table>") it came from, for messages.
    """

    stimulus_ids: tuple[str, ...]
    subjects: tuple[str, ...]
    trials: pd.DataFrame
    choice_labels: tuple[str, ...] = ()
    targets: np.ndarray | None = None
    mean_rating: np.ndarray | None = None
    rdms: np.ndarray | None = None
    rdm_subjects: tuple[str, ...] = ()
    source: str = ""
    where: dict[str, str] = field(default_factory=dict)

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli."""
        return len(self.stimulus_ids)

    @property
    def has_choices(self) -> bool:
        """Whether any trial holds a choice."""
        return bool(len(self.trials)) and bool((self.trials["choice"].to_numpy() >= 0).any())

    @property
    def has_ratings(self) -> bool:
        """Whether ratings (per trial or per stimulus) are known."""
        return self.mean_rating is not None and bool(np.isfinite(self.mean_rating).any())

    def subject_choices(self) -> np.ndarray:
        """Each subject's choice per stimulus, (subject, stimulus) int, -1 where none.

        A subject who saw a stimulus several times gets the choice made most often there
        (ties: the lowest label index).
        """
        counts = self._choice_counts()
        out = counts.argmax(axis=2)
        out[counts.sum(axis=2) == 0] = -1
        return out

    def _choice_counts(self) -> np.ndarray:
        n_l = max(len(self.choice_labels), 1)
        counts = np.zeros((len(self.subjects), self.n_stimuli, n_l), dtype=np.int64)
        t = self.trials
        ok = t["choice"].to_numpy() >= 0
        np.add.at(counts, (t["subject"].to_numpy()[ok], t["stimulus"].to_numpy()[ok],
                           t["choice"].to_numpy()[ok]), 1)
        return counts

    def majority(self, leave_out: int | None = None) -> np.ndarray:
        """Majority choice per stimulus over subjects, (stimulus,) int, -1 on a tie or none.

        Each subject votes once per stimulus (:meth:`subject_choices`); ``leave_out`` drops one
        subject (the leave-one-subject-out ceiling).
        """
        return majority_vote(self.subject_choices(), len(self.choice_labels), leave_out)

    def subject_ratings(self) -> np.ndarray:
        """Each subject's mean rating per stimulus, (subject, stimulus) float, NaN none."""
        t = self.trials
        total = np.zeros((len(self.subjects), self.n_stimuli))
        count = np.zeros_like(total)
        if len(t):
            r = t["rating"].to_numpy(dtype=np.float64)
            ok = np.isfinite(r)
            idx = (t["subject"].to_numpy()[ok], t["stimulus"].to_numpy()[ok])
            np.add.at(total, idx, r[ok])
            np.add.at(count, idx, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan)

    def rdm(self) -> np.ndarray:
        """Return the subjects' mean RDM (stimulus, stimulus); raise without RDMs."""
        if self.rdms is None:
            raise InputError("no behavioural RDM (similarity judgements)",
                             file=self.source or None,
                             obj=f"processing/{BEHAVIOUR_MODULE}/similarity")
        return self.rdms.mean(axis=0)

    def add_to(self, nwbfile: Any) -> Any:
        """Add this behaviour to an in-memory NWBFile (:func:`add_behaviour`)."""
        return add_behaviour(nwbfile, self)

    def rows_in(self, ids: Sequence[Any], *, what: str = "the model's stimuli") -> np.ndarray:
        """Row of each behaviour stimulus in ``ids`` (e.g. a recording's stimulus ids)."""
        lookup = {str(s): i for i, s in enumerate(ids)}
        missing = [s for s in self.stimulus_ids if s not in lookup]
        if missing:
            raise InputError(
                f"stimulus {missing[0]!r} ({len(missing)} of {self.n_stimuli}) is not among "
                f"{what}", file=self.source or None, obj="behaviour")
        return np.array([lookup[s] for s in self.stimulus_ids], dtype=np.int64)

    def subset(self, stimuli: np.ndarray) -> Behaviour:
        """Return the behaviour on some stimuli only (indices, in the order given)."""
        stimuli = np.asarray(stimuli, dtype=np.int64)
        new = np.full(self.n_stimuli, -1)
        new[stimuli] = np.arange(stimuli.size)
        t = self.trials
        keep = new[t["stimulus"].to_numpy()] >= 0 if len(t) else np.zeros(0, bool)
        trials = t.loc[keep].copy()
        trials["stimulus"] = new[trials["stimulus"].to_numpy()]
        pick = (lambda a: None if a is None else a[stimuli])  # noqa: E731
        return replace(
            self, stimulus_ids=tuple(self.stimulus_ids[i] for i in stimuli),
            trials=trials.reset_index(drop=True), targets=pick(self.targets),
            mean_rating=pick(self.mean_rating),
            rdms=None if self.rdms is None else self.rdms[:, stimuli][:, :, stimuli])

    def to_table(self) -> pd.DataFrame:
        """Return the trials as text and numbers (stimulus_id, subject_id, choice, rating, ...)."""
        import pandas as pd

        t = self.trials
        labels = np.array([*self.choice_labels, ""], dtype=object)
        return pd.DataFrame({
            "stimulus_id": np.array(self.stimulus_ids, dtype=object)[t["stimulus"].to_numpy()],
            "subject_id": np.array(self.subjects, dtype=object)[t["subject"].to_numpy()],
            "choice": labels[t["choice"].to_numpy()],
            "rating": t["rating"].to_numpy(dtype=np.float64),
            "reaction_time": t["reaction_time"].to_numpy(dtype=np.float64),
        })


def majority_vote(choices: np.ndarray, n_labels: int, leave_out: int | None = None) -> np.ndarray:
    """Majority over rows of a (subject, stimulus) choice matrix (-1 = none): -1 on ties."""
    c = np.asarray(choices)
    if leave_out is not None:
        c = np.delete(c, leave_out, axis=0)
    votes = np.zeros((c.shape[1], max(n_labels, 1)), dtype=np.int64)
    rows, cols = np.nonzero(c >= 0)
    np.add.at(votes, (cols, c[rows, cols]), 1)
    best = votes.max(axis=1)
    out = votes.argmax(axis=1)
    tie = (votes == best[:, None]).sum(axis=1) > 1
    out[(best == 0) | tie] = -1
    return out


# --- building from a ratings table ------------------------------------------------------------


def _pick(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _labels(*groups: Sequence[Any]) -> tuple[str, ...]:
    values = {str(v) for g in groups for v in g if v is not None}
    if values and all(v.lstrip("-").isdigit() for v in values):
        return tuple(sorted(values, key=int))
    return tuple(sorted(values))


def _codes(values: Sequence[Any], labels: tuple[str, ...]) -> np.ndarray:
    lookup = {s: i for i, s in enumerate(labels)}
    return np.array([-1 if v is None else lookup[str(v)] for v in values], dtype=np.int64)


def _numbers(values: Any, *, file: str, obj: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("must hold numbers", file=file or None, obj=obj) from None
    if np.isinf(out).any():
        row = int(np.flatnonzero(np.isinf(out))[0])
        raise InputError(f"row {row}: infinite value", file=file or None, obj=obj)
    return out


def _text_or_none(values: Any) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "":
            out.append(None)
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out.append(str(int(v)))  # a CSV column of whole numbers with gaps reads as float
        else:
            out.append(str(v))
    return out


def behaviour_from_table(
    frame: pd.DataFrame,
    *,
    source: str = "",
    stimulus_ids: Sequence[str] | None = None,
    targets: Sequence[Any] | None = None,
    rdms: np.ndarray | None = None,
    rdm_subjects: Sequence[str] = (),
) -> Behaviour:
    """Build a :class:`Behaviour` from a ratings table, one row per trial.

    Columns (case-insensitive, first match): the stimulus (``stimulus_id``, ``stimulus``,
    ``image_id``, ``image``), the subject (``subject_id``, ``subject``, ``participant_id``,
    ``participant``), ``choice`` (or ``response``) and/or ``rating``; optional
    ``reaction_time`` (``rt``) and ``target`` (``correct_response``: the correct answer).

    Parameters
    ----------
    frame
        The table (e.g. ``pd.read_csv``); not modified.
    source
        Where it came from, named in errors.
    stimulus_ids
        The stimulus order (e.g. a recording's ids); default: order of first appearance.
        Every stimulus of the table must be among them.
    targets
        The correct answer per stimulus of ``stimulus_ids`` (overrides a ``target`` column).
    rdms, rdm_subjects
        Behavioural RDMs (subject, stimulus, stimulus) in ``stimulus_ids`` order.
    """
    import pandas as pd

    cols = list(frame.columns)
    stim_col = _pick(cols, TABLE_STIMULUS_COLUMNS)
    subj_col = _pick(cols, SUBJECT_COLUMNS)
    choice_col, rating_col = _pick(cols, CHOICE_COLUMNS), _pick(cols, RATING_COLUMNS)
    rt_col, target_col = _pick(cols, RT_COLUMNS), _pick(cols, TARGET_COLUMNS)
    file = source or None
    if stim_col is None:
        raise InputError(f"no stimulus column (one of {', '.join(TABLE_STIMULUS_COLUMNS)})",
                         file=file)
    if subj_col is None:
        raise InputError(f"no subject column (one of {', '.join(SUBJECT_COLUMNS)})", file=file)
    if choice_col is None and rating_col is None:
        raise InputError("no choice or rating column (choice, response, rating)", file=file)
    if len(frame) == 0:
        raise InputError("no trials (the table has no rows)", file=file)
    stim = _text_or_none(frame[stim_col])
    subj = _text_or_none(frame[subj_col])
    for name, values in ((stim_col, stim), (subj_col, subj)):
        if None in values:
            raise InputError(f"row {values.index(None)}: empty value", file=file, obj=str(name))
    ids = list(dict.fromkeys(stim)) if stimulus_ids is None else [str(s) for s in stimulus_ids]
    lookup = {s: i for i, s in enumerate(ids)}
    unknown = next((s for s in stim if s not in lookup), None)
    if unknown is not None:
        raise InputError(f"unknown stimulus id {unknown!r}", file=file, obj=str(stim_col))
    subjects = tuple(dict.fromkeys(subj))
    subject_index = {s: i for i, s in enumerate(subjects)}
    choices = _text_or_none(frame[choice_col]) if choice_col is not None else [None] * len(stim)
    trial_targets = _text_or_none(frame[target_col]) if target_col is not None else []
    given = _text_or_none(targets) if targets is not None else []
    labels = _labels(choices, trial_targets, given)
    ratings = (_numbers(frame[rating_col], file=source, obj=str(rating_col))
               if rating_col is not None else np.full(len(stim), np.nan))
    rts = (_numbers(frame[rt_col], file=source, obj=str(rt_col))
           if rt_col is not None else np.full(len(stim), np.nan))
    if (rts < 0).any():
        row = int(np.flatnonzero(rts < 0)[0])
        raise InputError(f"row {row}: negative reaction time", file=file, obj=str(rt_col))
    trials = pd.DataFrame({
        "stimulus": np.array([lookup[s] for s in stim], dtype=np.int64),
        "subject": np.array([subject_index[s] for s in subj], dtype=np.int64),
        "choice": _codes(choices, labels),
        "rating": ratings,
        "reaction_time": rts,
    })
    if (trials["choice"] < 0).all() and not np.isfinite(ratings).any():
        raise InputError("no trial holds a choice or a rating", file=file)
    target_codes = _stimulus_targets(trials, given, trial_targets, labels, len(ids), source,
                                     str(target_col))
    return Behaviour(
        stimulus_ids=tuple(ids), subjects=subjects, trials=trials, choice_labels=labels,
        targets=target_codes, mean_rating=_mean_rating(trials, len(ids)),
        rdms=None if rdms is None else np.asarray(rdms, dtype=np.float64),
        rdm_subjects=tuple(str(s) for s in rdm_subjects), source=source or "<table>",
    )


def _stimulus_targets(trials: pd.DataFrame, given: list, per_trial: list, labels: tuple,
                      n: int, source: str, column: str) -> np.ndarray | None:
    """One correct answer per stimulus: given per stimulus, or agreed by its trials."""
    if given:
        if len(given) != n:
            raise InputError(f"{len(given)} targets for {n} stimuli", file=source or None,
                             obj="targets")
        return _codes(given, labels)
    if not per_trial:
        return None
    codes = _codes(per_trial, labels)
    out = np.full(n, -1, dtype=np.int64)
    for row, (s, c) in enumerate(zip(trials["stimulus"].to_numpy(), codes, strict=True)):
        if c < 0:
            continue
        if out[s] >= 0 and out[s] != c:
            raise InputError(f"row {row}: stimulus has two different targets "
                             f"({labels[out[s]]!r}, {labels[c]!r})", file=source or None,
                             obj=column)
        out[s] = c
    return out


def _mean_rating(trials: pd.DataFrame, n: int) -> np.ndarray | None:
    r = trials["rating"].to_numpy(dtype=np.float64)
    ok = np.isfinite(r)
    if not ok.any():
        return None
    total, count = np.zeros(n), np.zeros(n)
    np.add.at(total, trials["stimulus"].to_numpy()[ok], r[ok])
    np.add.at(count, trials["stimulus"].to_numpy()[ok], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def read_ratings(path: str | Path, *, stimulus_ids: Sequence[str] | None = None) -> Behaviour:
    """Read a ratings CSV (stimulus, subject, rating and/or choice per row): ``import --ratings``.

    The file must be a regular file no larger than the read limit
    (:func:`~neurofacedis._inputs.max_read_bytes`); see :func:`behaviour_from_table` for
    the columns.
    """
    import pandas as pd

    from neurofacedis._inputs import check_input_path, max_read_bytes

    path = check_input_path(path, what="ratings")
    size = path.stat().st_size
    if size > max_read_bytes():
        raise InputError(f"{size} bytes exceed the read limit ({max_read_bytes()} bytes)",
                         file=path)
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure is "not readable"
        raise InputError(f"not a readable CSV file ({type(exc).__name__})", file=path) from None
    return behaviour_from_table(frame, source=str(path), stimulus_ids=stimulus_ids)


# --- writing ----------------------------------------------------------------------------------


def add_behaviour(nwbfile: Any, behaviour: Behaviour) -> Any:
    """Add ``behaviour`` to an in-memory NWBFile as plain pynwb objects; return the module.

    Writes the processing module ``behavior`` with DynamicTables ``stimuli`` (stimulus_id,
    mean_rating, target), ``trials`` (stimulus_id, subject_id, choice, rating,
    reaction_time; the columns that hold values) and ``similarity`` (subject_id, rdm).
    """
    from hdmf.common import DynamicTable, VectorData

    if BEHAVIOUR_MODULE in nwbfile.processing:
        raise InputError("already holds behaviour", obj=f"processing/{BEHAVIOUR_MODULE}")
    module = nwbfile.create_processing_module(
        BEHAVIOUR_MODULE, "human behaviour: choices, ratings, similarity judgements")
    b = behaviour
    labels = np.array([*b.choice_labels, ""], dtype=object)
    cols = [VectorData(name="stimulus_id", description="stimulus (image) id",
                       data=list(b.stimulus_ids))]
    if b.mean_rating is not None:
        cols.append(VectorData(name="mean_rating", description="mean rating over trials",
                               data=np.asarray(b.mean_rating, dtype=np.float64)))
    if b.targets is not None:
        cols.append(VectorData(name="target", description="the correct answer ('' unknown)",
                               data=[str(v) for v in labels[b.targets]]))
    module.add(DynamicTable(name="stimuli", description="one row per stimulus", columns=cols))
    if len(b.trials):
        module.add(_trials_table(b))
    if b.rdms is not None:
        module.add(DynamicTable(name="similarity", description=(
            "behavioural RDM per subject, over the stimuli in the order of table 'stimuli'"),
            columns=[VectorData(name="subject_id", description="subject",
                                data=list(b.rdm_subjects)),
                     VectorData(name="rdm", description="dissimilarity (stimulus x stimulus)",
                                data=np.asarray(b.rdms, dtype=np.float64))]))
    return module


def _trials_table(b: Behaviour) -> Any:
    from hdmf.common import DynamicTable, VectorData

    t = b.to_table()
    cols = [VectorData(name="stimulus_id", description="stimulus (image) id",
                       data=[str(v) for v in t["stimulus_id"]]),
            VectorData(name="subject_id", description="subject", data=list(t["subject_id"]))]
    if (b.trials["choice"] >= 0).any():
        cols.append(VectorData(name="choice", description="the answer given ('' none)",
                               data=[str(v) for v in t["choice"]]))
    for name, text in (("rating", "rating given (NaN none)"),
                       ("reaction_time", "reaction time in seconds (NaN unknown)")):
        if np.isfinite(t[name].to_numpy()).any():
            cols.append(VectorData(name=name, description=text, data=t[name].to_numpy()))
    return DynamicTable(name="trials", description="one row per trial", columns=cols)


def write_behaviour(
    path: str | Path,
    behaviour: Behaviour,
    *,
    identifier: str,
    session_start_time: Any,
    session_description: str = "human behavioural experiment",
    overwrite: bool = False,
) -> Path:
    """Write ``behaviour`` alone as an NWB file (atomic: nothing half-written is left)."""
    from pynwb import NWBFile

    from neurofacedis.nwb._write import atomic_path, write_nwbfile

    nwbfile = NWBFile(session_description=session_description, identifier=identifier,
                      session_start_time=session_start_time)
    add_behaviour(nwbfile, behaviour)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_nwbfile(tmp, nwbfile)
    return Path(path)


# --- reading ----------------------------------------------------------------------------------


def read_behaviour(
    source: Any,
    *,
    trials: str | None = None,
    stimuli: str | None = None,
    follow_links: bool = False,
) -> Behaviour:
    """Read the behaviour in an NWB file (path or open ``NWBFile``) by the convention above.

    Parameters
    ----------
    source
        A path (``.nwb`` or NWB Zarr folder, opened read-only by :func:`open_nwb`) or an
        ``NWBFile`` (in memory or read by pynwb).
    trials
        Name or NWB path of the trials table when the file holds several candidates
        (``processing/behavior/trials``, ``intervals/NAME`` tables with a choice or rating).
    stimuli
        Name of the file's stimulus set, when it holds several (integer stimulus indices
        without a ``behavior/stimuli`` table index it).
    follow_links
        Read links to other files instead of refusing them.
    """
    if isinstance(source, (str, os.PathLike)):
        from neurofacedis.nwb._recording import open_nwb

        io, nwbfile = open_nwb(source, follow_links=follow_links)
        try:
            return _Reader(nwbfile, Path(source), stimuli, follow_links).read(trials)
        finally:
            io.close()
    file = getattr(source, "container_source", None) or "<NWBFile>"
    return _Reader(source, Path(file), stimuli, follow_links).read(trials)


class _Reader:
    """One pass over a file's behaviour objects; every read bounded and named."""

    def __init__(self, nwbfile: Any, path: Path, stimuli: str | None, follow_links: bool):
        self.nwbfile, self.path = nwbfile, path
        self.stimuli_name, self.follow_links = stimuli, follow_links
        self.module = nwbfile.processing.get(BEHAVIOUR_MODULE)

    def err(self, obj: str, problem: str) -> InputError:
        return InputError(problem, file=self.path, obj=obj)

    def column(self, table: Any, where: str, name: str, expect: str = "value") -> np.ndarray:
        data = table[name].data
        values = np.asarray(read_dataset(data, file=self.path, obj=f"{where}/{name}",
                                         expect=expect))
        if len(values) != len(table.id):
            raise self.err(f"{where}/{name}", f"{len(values)} values for {len(table.id)} rows")
        return values

    def table(self, name: str) -> Any:
        if self.module is None or name not in self.module.data_interfaces:
            return None
        obj = self.module.data_interfaces[name]
        if not hasattr(obj, "colnames"):
            raise self.err(f"processing/{BEHAVIOUR_MODULE}/{name}", "must be a DynamicTable")
        check_declared_size(obj.id.data, file=self.path,
                            obj=f"processing/{BEHAVIOUR_MODULE}/{name}/id")
        return obj

    def read(self, trials_name: str | None) -> Behaviour:
        import pandas as pd

        order, stim_where, summary = self.stimulus_table()
        found = self.find_trials(trials_name)
        frame, stim_col, where = (pd.DataFrame(), None, None)
        if found is not None:
            where, table = found
            frame, stim_col = self.trials_frame(table, where)
        if order is None and frame is not None and len(frame):
            order = self.order_for(frame[stim_col], f"{where}/{stim_col}")
        if order is None:
            order = self.file_stimulus_ids()
        rdms, rdm_subjects = self.similarity(order)
        if found is None and rdms is None and not summary:
            raise self.err(f"processing/{BEHAVIOUR_MODULE}", (
                "no behaviour: no trials table with a choice or rating column, no "
                "per-stimulus ratings and no similarity RDMs"))
        if len(frame):
            frame = frame.rename(columns={stim_col: "stimulus_id"})
            frame["stimulus_id"] = self.as_ids(frame["stimulus_id"], order, f"{where}/{stim_col}")
            b = behaviour_from_table(frame, source=str(self.path), stimulus_ids=order,
                                     targets=summary.get("target"), rdms=rdms,
                                     rdm_subjects=rdm_subjects)
        else:
            b = _summary_only(order, summary, rdms, rdm_subjects, str(self.path))
        if "mean_rating" in summary:
            b = replace(b, mean_rating=summary["mean_rating"])
        places = {"trials": where, "stimuli": stim_where,
                  "similarity": None if rdms is None else
                  f"processing/{BEHAVIOUR_MODULE}/similarity"}
        return replace(b, where={k: v for k, v in places.items() if v})

    def stimulus_table(self) -> tuple[list[str] | None, str | None, dict[str, Any]]:
        table = self.table("stimuli")
        if table is None:
            return None, None, {}
        where = f"processing/{BEHAVIOUR_MODULE}/stimuli"
        if "stimulus_id" not in table.colnames:
            raise self.err(where, "has no stimulus_id column")
        ids = [str(v) for v in self.column(table, where, "stimulus_id")]
        if len(set(ids)) != len(ids):
            raise self.err(f"{where}/stimulus_id", "duplicate stimulus ids")
        summary: dict[str, Any] = {}
        if "mean_rating" in table.colnames:
            summary["mean_rating"] = self.column(table, where, "mean_rating", "number").astype(
                np.float64)
        if "target" in table.colnames:
            summary["target"] = [str(v) for v in self.column(table, where, "target")]
        return ids, where, summary

    def find_trials(self, name: str | None) -> tuple[str, Any] | None:
        found: dict[str, Any] = {}
        own = self.table("trials")
        if own is not None:
            found[f"processing/{BEHAVIOUR_MODULE}/trials"] = own
        intervals = dict(self.nwbfile.intervals) if self.nwbfile.intervals else {}
        if getattr(self.nwbfile, "trials", None) is not None:  # in memory: not in intervals
            intervals.setdefault("trials", self.nwbfile.trials)
        for key, table in intervals.items():
            if _pick(table.colnames, CHOICE_COLUMNS + RATING_COLUMNS) is not None:
                found[f"intervals/{key}"] = table
        listed = ", ".join(found) or "none"
        if name is not None:
            hits = [w for w in found if name in (w, w.rsplit("/", 1)[1])]
            if len(hits) != 1:
                raise self.err("trials", f"no single trials table named {name!r} "
                               f"(candidates: {listed})")
            return hits[0], found[hits[0]]
        if len(found) > 1:
            raise self.err("trials", f"several trials tables ({listed}); choose one with "
                           "`trials`")
        return next(iter(found.items()), None)

    def trials_frame(self, table: Any, where: str) -> tuple[pd.DataFrame, str]:
        import pandas as pd

        from neurofacedis.nwb._recording import PRESENTATION_INDEX_COLUMNS

        for column in table.columns:
            check_declared_size(column.data, file=self.path, obj=f"{where}/{column.name}")
        stim_col = _pick(table.colnames, PRESENTATION_INDEX_COLUMNS)
        if stim_col is None:
            raise self.err(where, "has no stimulus column (stimulus_id or stimulus_index)")
        names = [stim_col, *(c for c in (
            _pick(table.colnames, SUBJECT_COLUMNS), _pick(table.colnames, CHOICE_COLUMNS),
            _pick(table.colnames, RATING_COLUMNS), _pick(table.colnames, RT_COLUMNS),
            _pick(table.colnames, TARGET_COLUMNS)) if c is not None)]
        frame = pd.DataFrame({n: self.column(table, where, n) for n in names})
        if _pick(table.colnames, SUBJECT_COLUMNS) is None:  # one subject: the file's own
            subject = getattr(self.nwbfile, "subject", None)
            frame["subject_id"] = str(getattr(subject, "subject_id", None) or "subject")
        if len(frame) == 0:
            raise self.err(where, "no trials")
        return frame, stim_col

    def order_for(self, values: pd.Series, where: str) -> list[str] | None:
        """Stimulus order when no ``stimuli`` table gives it: the file's set, else as met."""
        if values.dtype.kind in "iuf":
            return None  # integer indices: into the file's stimulus set
        ids = self.file_stimulus_ids(required=False)
        return ids if ids is not None else list(dict.fromkeys(str(v) for v in values))

    def as_ids(self, values: pd.Series, order: list[str], where: str) -> list[str]:
        if values.dtype.kind not in "iuf":
            return [str(v) for v in values]
        v = values.to_numpy(dtype=np.float64)
        if not np.all(v == np.round(v)):
            raise self.err(where, "stimulus index column is not integer")
        bad = (v < 0) | (v >= len(order))
        if bad.any():
            raise self.err(where, f"stimulus index {int(v[bad][0])} out of range for "
                           f"{len(order)} stimuli")
        return [order[int(i)] for i in v]

    def file_stimulus_ids(self, required: bool = True) -> list[str] | None:
        """Return the ids of the file's stimulus set (our FaceStimulusSet or a plain one)."""
        from neurofacedis.nwb._stimuli import build_set, choose_set, plain_candidates
        from neurofacedis.nwb._write import MODULE

        own = self.nwbfile.processing.get(MODULE)
        sets = [o for o in (own.data_interfaces.values() if own is not None else ())
                if getattr(o, "neurodata_type", None) == "FaceStimulusSet"]
        if sets:
            where = f"processing/{MODULE}/{sets[0].name}/stimulus_table"
            return [str(v) for v in self.column(sets[0].stimulus_table, where, "stimulus_id")]
        if not plain_candidates(self.nwbfile):
            if not required:
                return None
            raise self.err(f"processing/{BEHAVIOUR_MODULE}/stimuli", (
                "no stimulus order: integer stimulus indices and RDMs need a 'stimuli' table "
                "or a stimulus set in the file"))
        where, obj = choose_set(self.nwbfile, self.stimuli_name, file=self.path)
        return build_set(where, obj, file=self.path, follow_links=self.follow_links).ids

    def similarity(self, order: list[str]) -> tuple[np.ndarray | None, list[str]]:
        table = self.table("similarity")
        if table is None:
            return None, []
        where = f"processing/{BEHAVIOUR_MODULE}/similarity"
        for name in ("subject_id", "rdm"):
            if name not in table.colnames:
                raise self.err(where, f"has no {name} column")
        rdms = self.column(table, where, "rdm", "number").astype(np.float64)
        n = len(order)
        if rdms.ndim != 3 or rdms.shape[1:] != (n, n):
            raise self.err(f"{where}/rdm", f"shape {rdms.shape}: expected (subjects, {n}, {n})")
        if not np.isfinite(rdms).all():
            raise self.err(f"{where}/rdm", "holds NaN or infinite values")
        if not np.allclose(rdms, rdms.transpose(0, 2, 1)):
            raise self.err(f"{where}/rdm", "an RDM is not symmetric")
        return rdms, [str(v) for v in self.column(table, where, "subject_id")]


def _summary_only(order: list[str], summary: dict[str, Any], rdms: np.ndarray | None,
                  rdm_subjects: list[str], source: str) -> Behaviour:
    import pandas as pd

    given = summary.get("target")
    labels = _labels(given) if given else ()
    empty = pd.DataFrame({"stimulus": np.zeros(0, np.int64), "subject": np.zeros(0, np.int64),
                          "choice": np.zeros(0, np.int64), "rating": np.zeros(0),
                          "reaction_time": np.zeros(0)})
    return Behaviour(
        stimulus_ids=tuple(order), subjects=tuple(rdm_subjects), trials=empty,
        choice_labels=labels,
        targets=_codes([g or None for g in given], labels) if given else None,
        rdms=rdms, rdm_subjects=tuple(rdm_subjects), source=source)
