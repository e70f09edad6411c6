"""`motiongpt evaluator train|score` (the text-motion evaluator) and `motiongpt eval` (score a MotionGPT model)."""

from __future__ import annotations

import argparse

from motiongpt.errors import MotionGPTError
from motiongpt.llm.tasks import Task
from motiongpt.commands.options import (add_device_option, add_dtype_option, add_int8_option, add_model_option,
                                       add_sampling_options, chosen_evaluator, device_of, dtype_of,
                                       official_arguments, quantize_of, sampling_settings)
from motiongpt.io import write_json


def register(sub: argparse._SubParsersAction) -> None:
    from motiongpt.eval.evaluator import TrainSettings
    from motiongpt.eval.fidelity import FIDELITY_SAMPLES
    from motiongpt.training import add_config_options

    parser = sub.add_parser("evaluator", help="train the text-motion evaluator, or score real motions with it")
    commands = parser.add_subparsers(dest="evaluator_command", required=True)

    train = commands.add_parser("train", help="contrastive training on a dataset in HumanML3D layout (resumable)")
    train.add_argument("--data", required=True, help="dataset folder in HumanML3D layout (uses train and val)")
    add_config_options(train, TrainSettings)
    train.set_defaults(func=_train)

    score = commands.add_parser("score", help="R-Precision, MM-Dist and Diversity of the real motions of a split")
    score.add_argument("--data", required=True, help="dataset folder in HumanML3D layout")
    score.add_argument("--split", default="test", help="dataset split to score (default: %(default)s)")
    score.add_argument("--evaluator", help="trained evaluator dir (from `motiongpt evaluator train`), or `bundled`")
    official_arguments(score, "--evaluator")
    score.add_argument("--repeats", type=int, default=20, help="repeats with fresh crops and batches (default: %(default)s)")
    score.add_argument("--seed", type=int, default=0, help="seed of the crops and batches (default: %(default)s)")
    score.add_argument("--mismatched", action="store_true",
                       help="pair every motion with another motion's caption (top-k must fall to chance)")
    score.add_argument("--json", help="also write the results to this JSON file")
    score.set_defaults(func=_score)

    ev = sub.add_parser(
        "eval", help="score a MotionGPT model: R-Precision, FID, MM-Dist, Diversity, MultiModality, control metrics",
        description="The T2M-GPT protocol on generated motions, for text-only generation and the three control "
                    "tasks (control tokens taken from each test motion's own codes). Writes OUT/results.json and "
                    "OUT/results.md; every finished repeat is saved under OUT/repeats and a rerun of the same "
                    "command skips it. Metric definitions: docs/eval.md.")
    add_model_option(ev)
    ev.add_argument("--data", required=True, help="dataset folder in HumanML3D layout")
    ev.add_argument("--evaluator", help="trained evaluator dir (from `motiongpt evaluator train`), or `bundled`: "
                                        "the Bandai evaluator shipped with the bundled model")
    official_arguments(ev, "--evaluator")
    ev.add_argument("--split", default="test", help="dataset split to evaluate on (default: %(default)s)")
    ev.add_argument("--out", required=True, help="output dir; rerun the same command to resume")
    ev.add_argument("--repeats", type=int, default=20, help="repeats of the protocol (default: %(default)s, as the field)")
    ev.add_argument("--tasks", default=",".join(t.value for t in Task),
                    help="comma-separated among %(default)s (default: all)")
    ev.add_argument("--mm-samples", type=int, default=30, help="generations per text for MultiModality (30)")
    ev.add_argument("--mm-texts", type=int, default=100, help="texts for MultiModality (100, as the original)")
    ev.add_argument("--no-mm", action="store_true", help="skip MultiModality")
    ev.add_argument("--mm-per-repeat", action="store_true",
                    help="compute MultiModality in every repeat (default: once, with the run's seed)")
    ev.add_argument("--limit", type=int, help="only the split's first N captioned motions (at least 32)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the draws and of generation (default: %(default)s)")
    ev.add_argument("--batch-size", type=int, default=32, help="rows generated together (default: 32)")
    add_sampling_options(ev)
    ev.add_argument("--cache", help="real-embedding cache dir (default: OUT/cache)")
    add_device_option(ev)
    add_dtype_option(ev, None, "LLM weights dtype (default: as saved)")
    add_int8_option(ev)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=_eval)

    wording = sub.add_parser(
        "eval-wording", help="content retrieval of motions made from held-out wording vs template captions",
        description="Generate from each held-out description (motiongpt/eval/heldout_wording.tsv, or --wording) "
                    "and from a template caption of the same content; a softmax regression on the evaluator's "
                    "embedding and a descriptor of the joints, fitted on the train split's motions, judges each "
                    "motion's content (its figures on real motions are the ceiling). Bandai data only.")
    add_model_option(wording)
    wording.add_argument("--data", required=True, help="the Bandai set in HumanML3D layout")
    wording.add_argument("--evaluator", default="bundled", help="trained evaluator dir, or `bundled` (default)")
    wording.add_argument("--wording", help="a `description<TAB>content` file instead of the held-out set")
    wording.add_argument("--samples", type=int, default=3, help="generations per description (default: 3)")
    wording.add_argument("--seed", type=int, default=0, help="generation seed (default: %(default)s)")
    wording.add_argument("--batch-size", type=int, default=32, help="rows generated together (default: %(default)s)")
    wording.add_argument("--guidance", type=float, help="classifier-free guidance (default: the model's own)")
    wording.add_argument("--json", help="write the results (with every miss) to this JSON file")
    wording.add_argument("--quiet", action="store_true", help="no progress bars")
    wording.set_defaults(func=_eval_wording)

    fidelity = sub.add_parser(
        "caption-fidelity", help="how often a model's motions for each of its captions show the caption's content",
        description="Generate from every caption of the model's caption list (Bandai captions grouped by content), "
                    "judge each motion's content from its evaluator embedding and joints, and write "
                    "MODEL/caption_fidelity.json: the caption matcher then prefers the captions the model renders "
                    "faithfully. Interrupted, the same command resumes.")
    add_model_option(fidelity)
    fidelity.add_argument("--data", required=True, help="the Bandai set in HumanML3D layout (its train motions "
                                                        "teach the judge)")
    fidelity.add_argument("--evaluator", default="bundled", help="trained evaluator dir, or `bundled` (default)")
    fidelity.add_argument("--samples", type=int, default=FIDELITY_SAMPLES,
                          help="generations per caption (default: %(default)s)")
    fidelity.add_argument("--seed", type=int, default=0, help="generation seed (default: %(default)s)")
    fidelity.add_argument("--batch-size", type=int, default=32,
                          help="captions generated together (default: %(default)s)")
    fidelity.add_argument("--quiet", action="store_true", help="no progress bars")
    fidelity.set_defaults(func=_caption_fidelity)


def _train(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluator import TrainSettings, train
    from motiongpt.training import given_options

    result = train(args.data, args.out, TrainSettings(**given_options(args, TrainSettings)))
    print(f"saved evaluator to {result.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluator import open_split
    from motiongpt.eval.evaluators import load_evaluator
    from motiongpt.eval.protocol import score_real_motions

    evaluator = load_evaluator(**chosen_evaluator(args))
    dataset = open_split(args.data, args.split, evaluator.feature_dim)
    results = score_real_motions(evaluator, dataset, repeats=args.repeats, seed=args.seed,
                                 mismatched=args.mismatched)
    note = ", captions mismatched" if args.mismatched else ""
    print(f"{len(dataset)} motions of {args.split}, {args.repeats} repeats{note}")
    for name, (mean, conf) in results.items():
        print(f"{name:>10}: {mean:.4f} ± {conf:.4f}")
    if args.json:
        write_json(args.json, {"split": args.split, "motions": len(dataset), "repeats": args.repeats,
                               "mismatched": args.mismatched,
                               "metrics": {k: {"mean": m, "conf95": c} for k, (m, c) in results.items()}})
    return 0


def _eval(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluator import open_split
    from motiongpt.eval.evaluators import evaluator_files, load_evaluator, run_identity
    from motiongpt.eval.protocol import EvalSettings, evaluate_generation
    from motiongpt.eval.report import markdown, write_report
    from motiongpt.generation.pipeline import MotionGPT

    tasks = tuple(Task.parse(t) for t in args.tasks.split(",") if t.strip())
    settings = EvalSettings(tasks=tasks, repeats=args.repeats, seed=args.seed, limit=args.limit,
                            mm_texts=args.mm_texts, mm_samples=0 if args.no_mm else args.mm_samples,
                            mm_per_repeat=args.mm_per_repeat, batch_size=args.batch_size,
                            generation=sampling_settings(args))
    settings.check()
    evaluator = load_evaluator(**chosen_evaluator(args))
    dataset = open_split(args.data, args.split, evaluator.feature_dim)
    model = MotionGPT.from_pretrained(args.model, device=device_of(args), dtype=dtype_of(args),
                                      quantize=quantize_of(args))
    identity = run_identity(args.model, args.data, args.split, evaluator_files(**chosen_evaluator(args)))
    results = evaluate_generation(model, evaluator, dataset, args.out, settings, identity=identity,
                                  cache_dir=args.cache, progress=not args.quiet)
    json_path, md_path = write_report(args.out, results)
    print(markdown(results))
    print(f"wrote {json_path} and {md_path}")
    return 0


def _per_content_table(result: dict) -> str:
    """Per content: its train clips, the judge on real train motions (cross-validated: the ceiling) and the
    generated motions' figures, template / held-out, for each mode."""
    modes = [m for m in ("matched", "raw") if m in result]
    real = result["real_train_cross_validated"]["per_content"]
    lines = [f"{'content':<22} {'clips':>5} {'real':>5}  " + "  ".join(f"{m + ' tmpl / held':>17}" for m in modes)]
    for content, clips in result["train_clips"].items():
        figures = [result[m]["per_content"].get(content) for m in modes]
        if not any(figures):
            continue  # no description names it
        cells = [f"{f.get('template', float('nan')):>8.2f} / {f.get('heldout', float('nan')):.2f}" if f else ""
                 for f in figures]
        ceiling = f"{real[content]:.2f}" if clips > 1 else "-"  # a lone clip held out leaves none to learn from
        lines.append(f"{content:<22} {clips:>5} {ceiling:>5}  " + "  ".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)


def _eval_wording(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluator import TextMotionEvaluator
    from motiongpt.eval.evaluators import evaluator_dir
    from motiongpt.eval.wording import load_heldout_wording, wording_retrieval
    from motiongpt.generation.pipeline import MotionGPT

    if args.samples < 1:
        raise MotionGPTError(f"--samples {args.samples}: must be at least 1")
    rows = load_heldout_wording(args.wording) if args.wording else None
    evaluator = TextMotionEvaluator.from_pretrained(evaluator_dir(args.evaluator))
    model = MotionGPT.from_pretrained(args.model)
    result = wording_retrieval(model, evaluator, args.data, rows, samples=args.samples, seed=args.seed,
                               batch_size=args.batch_size, progress=not args.quiet, guidance=args.guidance)
    print(f"content judged from the evaluator's embedding and the joints (fitted on the train motions): real test "
          f"motions {result['real_test']['accuracy']:.3f}, real train motions cross-validated "
          f"{result['real_train_cross_validated']['accuracy']:.3f} ({result['descriptions']} descriptions x "
          f"{result['samples']} samples below)")
    for content, count in result["skipped"].items():
        print(f"skipped {count} description(s) of {content}: the data has no train motion of it")
    for mode in ("matched", "raw"):
        if mode in result:
            r = result[mode]
            print(f"{mode:>8}: template captions {r['template']['accuracy']:.3f}, held-out wording "
                  f"{r['heldout']['accuracy']:.3f} (ratio {r['ratio']:.3f})")
    print(_per_content_table(result))
    if args.json:
        write_json(args.json, result)
    return 0


def _caption_fidelity(args: argparse.Namespace) -> int:
    import numpy as np

    from motiongpt.eval.evaluator import TextMotionEvaluator
    from motiongpt.eval.evaluators import evaluator_dir
    from motiongpt.eval.fidelity import fidelity_by_group, write_caption_fidelity
    from motiongpt.generation.matcher import FIDELITY_MIN, FIDELITY_NAME
    from motiongpt.generation.models import NAMED_MODELS, model_dir
    from motiongpt.generation.pipeline import MotionGPT, model_parts

    directory = model_dir(args.model)
    if directory.resolve() in [d.resolve() for d in NAMED_MODELS.values()]:
        raise MotionGPTError(f"--model {args.model or 'default'}: a model shipped in the package; measure a copy "
                             "(cp -r) instead of writing into the installed package")
    evaluator = TextMotionEvaluator.from_pretrained(evaluator_dir(args.evaluator))
    model = MotionGPT.from_pretrained(directory)
    values, resumed = write_caption_fidelity(model, evaluator, args.data, directory, model_parts(directory)["llm"],
                                             samples=args.samples, seed=args.seed, batch_size=args.batch_size,
                                             evaluator_name=args.evaluator, progress=not args.quiet)
    if resumed:
        print(f"resumed: {resumed} captions were measured by an earlier run")
    print(f"{'content':<22} captions  fidelity  below {FIDELITY_MIN}")
    for group, row in fidelity_by_group(model.matcher.groups, values).items():
        mean = "n/a" if row["mean"] is None else f"{row['mean']:.3f}"
        print(f"{group:<22} {row['captions']:>8}  {mean:>8}  {row['below_min']:>5}")
    judged = values[~np.isnan(values)]
    mean = f"{judged.mean():.3f}" if len(judged) else "n/a"
    print(f"{len(judged)} captions judged, mean fidelity {mean}; written to {directory / FIDELITY_NAME}")
    return 0
