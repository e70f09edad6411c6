"""Evaluation: the field's metrics and protocol (20 repeats), official and trainable evaluators, control metrics, the left/right judge."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.eval.metrics": ["fid", "matching_metrics", "diversity", "multimodality", "mean_confidence"],
    "motiongpt.eval.evaluator": ["TextMotionEvaluator"],
    "motiongpt.eval.official": ["OfficialEvaluator"],
    "motiongpt.eval.evaluators": ["load_evaluator"],
    "motiongpt.eval.protocol": ["EvalSettings", "evaluate_generation", "score_real_motions"],
    "motiongpt.eval.control": ["control_metrics"],
    "motiongpt.eval.tokenizer": ["evaluator_metrics"],
    "motiongpt.eval.sides": ["load_side_queries", "side_accuracy"],
})
