"""Teacher-forced answer likelihood per motion code, comparable across answer formats and bases.

    python benchmarks/bench_code_likelihood.py --instructions DIR --model unbalanced --model runs/smol/model

For each model, on the same first N records of DIR/val.jsonl (each rendered in the model's own format and prompt
template, as it was finetuned): the answer's negative log-likelihood (answer tokens and EOS) divided by the
number of codes, and the next-code accuracy: the fraction of codes whose every token (its digits in the text
format, its one token in the vocab format) is the argmax given the true answer so far. A text answer spends
about 3.8 tokens per code and a vocab answer 1.2, so per-token figures (the training log's) do not compare; these
do. Uniform guessing costs ln(512) = 6.24 nats per code. Writes benchmarks/results/code_likelihood[-NAME].json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from motiongpt.generation.constraints import AnswerVocab
from motiongpt.generation.pipeline import model_dir, model_parts
from motiongpt.io import read_json, write_json
from motiongpt.llm.finetune import encode_records
from motiongpt.llm.finetuned import META_NAME, load_finetuned


def code_spans(answer: list[int], vocab: AnswerVocab) -> list[list[int]]:
    """Positions (within the answer) of each code's tokens: its digits, or its one code token."""
    if vocab.fmt == "vocab":
        return [[i] for i, t in enumerate(answer) if t in set(vocab.code_ids)]
    spans, current = [], []
    for i, t in enumerate(answer):
        if t in vocab.digit_ids:
            current.append(i)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


@torch.no_grad()
def score(directory: Path, records: list[dict], batch: int) -> dict:
    llm_dir = model_parts(directory)["llm"]
    meta = read_json(llm_dir / META_NAME)
    model, tokenizer, _ = load_finetuned(llm_dir, merge=True)
    vocab = AnswerVocab.from_tokenizer(tokenizer, meta.get("format", "text"), int(meta["codebook_size"]))
    examples, dropped = encode_records(records, tokenizer, vocab.fmt, 10_000, meta.get("prompt", "alpaca"))
    nll = codes = right = tokens = 0.0
    for start in range(0, len(examples), batch):
        chunk = examples[start:start + batch]
        width = max(len(e.ids) for e in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(chunk):
            ids[i, :len(e.ids)], mask[i, :len(e.ids)] = torch.tensor(e.ids), 1
        logp = F.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for i, e in enumerate(chunk):
            target = torch.tensor(e.ids[e.n_prompt:])
            rows = logp[i, e.n_prompt - 1:len(e.ids) - 1]
            token_nll = -rows.gather(1, target[:, None])[:, 0]
            hit = rows.argmax(-1) == target
            spans = code_spans(e.ids[e.n_prompt:], vocab)
            nll += token_nll.sum().item()
            tokens += len(target)
            codes += len(spans)
            right += sum(bool(hit[span].all()) for span in spans)
    return {"format": vocab.fmt, "base": meta.get("base"), "records": len(examples), "codes": int(codes),
            "nats_per_code": nll / codes, "next_code_accuracy": right / codes, "tokens_per_code": tokens / codes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instructions", type=Path, required=True, help="instruction dir with val.jsonl")
    parser.add_argument("--model", action="append", required=True, help="model dir or name (repeat)")
    parser.add_argument("--records", type=int, default=400, help="first N val records")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--name", default="")
    args = parser.parse_args()
    lines = (args.instructions / "val.jsonl").read_text().splitlines()[:args.records]
    records = [json.loads(line) for line in lines]
    results = {}
    for name in args.model:
        results[name] = score(model_dir(name), records, args.batch)
        r = results[name]
        print(f"{name}: {r['format']} on {r['base']}: {r['nats_per_code']:.3f} nats per code, next-code accuracy "
              f"{r['next_code_accuracy']:.3f} ({r['records']} records, {r['codes']} codes)", flush=True)
    out = Path(__file__).resolve().parent / "results" / f"code_likelihood{'-' + args.name if args.name else ''}.json"
    write_json(out, {"instructions": str(args.instructions), "records": len(records), "results": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
