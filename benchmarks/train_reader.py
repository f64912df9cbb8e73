"""Train the reader (`qa/reader.py`) on SQuAD v1.1 train; resumable, on CPU or GPU alike.

    python benchmarks/train_reader.py --minutes 50        # prepare once, then train (resumes where it stopped)
    python benchmarks/train_reader.py --eval 1000          # exact-answer F1 of the top passage on SQuAD dev
    python benchmarks/train_reader.py --export             # qa/reader.safetensors + qa/reader.json
    python benchmarks/train_reader.py --eval-v2 2000 [--shipped]   # no-answer AUC on SQuAD 2.0 dev
    python benchmarks/train_reader.py --v2 even --init qa/reader.safetensors --minutes 40 --eval-v2 5690
                                            # also SQuAD 2.0 dev's even articles; scored on the odd ones

Examples are the product's own passages: each train paragraph is chunked as
an index would chunk it; a question's positive is the chunk holding its
answer, and (for ``--negatives`` of the questions) a hard negative is the
chunk of the same article that BM25 ranks first for the question among those
that contain none of its answers, labelled "no answer" ([CLS]).  With
``--twins``, a share of the questions also get an unanswerable twin
(`benchmarks/twins.py`: a name or year the passage holds swapped for one it
does not, or the question negated) on their own passage, labelled "no
answer": "about it" but not "answers it", which SQuAD v1.1 alone never
shows.  ``--init`` continues from the shipped reader's tensors, ``--sample``
draws that many questions.  Only the layers from ``--trained-from`` up and
the span head learn.  A checkpoint (weights, optimizer, step) is written
atomically every ``--save-every`` steps into ``--work``, and a run picks it
up: a session that ends loses at most those steps.  ``--listwise W`` adds,
with weight W, a loss that ranks each question's passages (its answering
chunk and its hard negatives, kept in one batch) by the reader's evidence,
so that margins compare across passages as the ranking compares them.
``--v2 even|odd|all`` adds SQuAD 2.0 dev's questions of those articles (its
real unanswerable questions, labelled "no answer" on the chunk of their
paragraph that shares most words with them); ``--eval-v2`` then scores only
the other articles' questions.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import CACHE, EVAL, cached_engine, dev_article, index_key, read_jsonl, squad_corpus, write_atomic  # noqa: E402

from qa.chunking import ChunkingSettings, chunk_sentences  # noqa: E402
from qa.documents import Document, Segment, file_sha256  # noqa: E402
from qa.evaluation import answer_f1  # noqa: E402
from qa.models import DEFAULT_MODEL, model_folder  # noqa: E402
from qa.reader import MAX_TOKENS, READER_FILE, READER_RECORD, Reader, build_model, trained_state  # noqa: E402

TRAIN = EVAL / "squad"
EVAL_SEED = 13  # the held-out questions scored, whatever seed drew the training data
TWINS_VERSION = 2  # how twins are made (a new value prepares the examples anew)


def read_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- examples ------------------------------------------------------------------------------------


def examples(
    negatives: float, seed: int, twins: float = 0.0, sample: int = 0, dense: bool = False, v2: str = ""
) -> list[tuple[str, str, int, int, int]]:
    """(question, passage, answer start, answer end, group) with start = end = -1 for "no answer".

    ``group``: the question's position, shared by its passage and its hard negatives (-1 for a twin, a question of
    its own);
    ``twins``: the share of questions also given an unanswerable twin (`twins.twin`) on their own passage;
    ``sample``: that many questions drawn at random (0: all); ``dense``: a question given a hard negative
    also gets the embedder's closest chunk without an answer, when it is not BM25's; ``v2``: SQuAD 2.0 dev's
    questions of those articles too (`v2_examples`).
    """
    import bm25s

    contexts = {r["id"]: r for r in read_gz(TRAIN / "train_contexts.jsonl.gz")}
    questions = read_gz(TRAIN / "train_questions.jsonl.gz")
    if sample:
        questions = random.Random(seed).sample(questions, sample)
    twin_of = unanswerable_twins(questions, twins, seed) if twins else {}
    settings = ChunkingSettings()
    chunks: dict[str, list[tuple[int, int]]] = {}
    for cid, row in contexts.items():
        doc = Document(cid, row["text"], row["title"], segments=[Segment(0, len(row["text"]), "article")])
        chunks[cid] = [(c.start, c.end) for c, _ in chunk_sentences(doc, settings)]
    by_article: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for cid, spans in chunks.items():
        by_article[cid.split("-")[0]] += [(cid, s, e) for s, e in spans]
    rng = random.Random(seed)
    retrievers: dict[str, object] = {}
    out = []
    for number, q in enumerate(questions):
        text = contexts[q["context_id"]]["text"]
        start = q["answer_starts"][0]
        end = start + len(q["answers"][0])
        holding = [(s, e) for s, e in chunks[q["context_id"]] if s <= start and end <= e]
        if holding:
            s, e = holding[0]
            out.append((q["question"], text[s:e], start - s, end - s, number))
            made = twin_of.get(number)
            asked = made(text[s:e]) if made else None
            if asked:
                out.append((asked, text[s:e], -1, -1, -1))
        if rng.random() >= negatives:
            continue
        article = q["context_id"].split("-")[0]
        pool = by_article[article]
        if article not in retrievers:
            passages = [contexts[cid]["text"][s:e] for cid, s, e in pool]
            retriever = bm25s.BM25()
            retriever.index(bm25s.tokenize(passages, stopwords="en", show_progress=False), show_progress=False)
            retrievers[article] = (retriever, passages)
        retriever, passages = retrievers[article]
        answers = [a.lower() for a in q["answers"]]
        ranked, _ = retriever.retrieve(
            bm25s.tokenize([q["question"]], stopwords="en", show_progress=False),
            k=min(10, len(passages)),
            show_progress=False,
        )
        orders = [list(ranked[0])]
        if dense:
            orders.append(dense_order(article, passages, q["question"]))
        taken: set[int] = set()
        for order in orders:
            i = next((i for i in order if not any(a in passages[i].lower() for a in answers)), None)
            if i is not None and i not in taken:
                taken.add(i)
                out.append((q["question"], passages[i], -1, -1, number))
    return out + (v2_examples(v2, settings) if v2 else [])


def v2_articles(question: dict, which: str) -> bool:
    """Whether a SQuAD dev question's article is among ``which`` ("even", "odd" or "all")."""
    return which == "all" or dev_article(question["context_id"]) % 2 == (which == "odd")


def v2_examples(which: str, settings: ChunkingSettings) -> list[tuple[str, str, int, int, int]]:
    """SQuAD 2.0 dev's questions of ``which`` articles: an answerable one on the chunk of its paragraph holding its
    answer; an unanswerable one, "no answer", on the chunk of its paragraph sharing most words with it (what
    retrieval would put first).  Each is a group of its own."""
    import re

    word = re.compile(r"\w+")
    contexts = {r["id"]: r["text"] for r in read_jsonl(EVAL / "squad" / "contexts.jsonl")}
    spans: dict[str, list[tuple[int, int]]] = {}
    out = []
    for q in read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl"):
        if not v2_articles(q, which):
            continue
        text = contexts[q["context_id"]]
        if q["context_id"] not in spans:
            doc = Document(q["context_id"], text, "", segments=[Segment(0, len(text), "article")])
            spans[q["context_id"]] = [(c.start, c.end) for c, _ in chunk_sentences(doc, settings)]
        if q["is_impossible"]:
            asked = {w.lower() for w in word.findall(q["question"])}
            s, e = max(
                spans[q["context_id"]], key=lambda se: len(asked & set(word.findall(text[se[0] : se[1]].lower())))
            )
            out.append((q["question"], text[s:e], -1, -1, -1))
            continue
        start = text.find(q["answers"][0])
        end = start + len(q["answers"][0])
        holding = [(s, e) for s, e in spans[q["context_id"]] if start >= 0 and s <= start and end <= e]
        if holding:
            s, e = holding[0]
            out.append((q["question"], text[s:e], start - s, end - s, -1))
    return out


@functools.cache
def _embedder():
    from qa.models import load_embedder

    return load_embedder()


_ARTICLE_VECTORS: dict[str, np.ndarray] = {}


def dense_order(article: str, passages: list[str], question: str) -> list[int]:
    """The article's passages, closest to the question first by the shipped embedder (vectors kept per article)."""
    if article not in _ARTICLE_VECTORS:
        _ARTICLE_VECTORS[article] = _embedder().encode(passages)
    scores = _ARTICLE_VECTORS[article] @ _embedder().encode([question])[0]
    return [int(i) for i in np.argsort(-scores)[:10]]


def unanswerable_twins(questions: list[dict], share: float, seed: int) -> dict:
    """For ``share`` of the questions (by position): a function of its passage giving the question's twin, or None."""
    from twins import entity_pool, twin

    from qa.actors import parse

    rng = random.Random(seed + 1)
    chosen = [n for n in range(len(questions)) if rng.random() < share]
    docs = parse([questions[n]["question"] for n in chosen])
    articles = [questions[n]["context_id"].split("-")[0] for n in chosen]
    pool = entity_pool(docs, articles)
    return {
        n: functools.partial(twin, doc, article=article, pool=pool, rng=rng)
        for n, doc, article in zip(chosen, docs, articles, strict=True)
    }


def tokenized(
    work: Path,
    negatives: float,
    seed: int,
    twins: float = 0.0,
    sample: int = 0,
    dense: bool = False,
    groups: bool = False,
    v2: str = "",
) -> dict[str, np.ndarray]:
    """The examples as token ids with answer token positions (and their questions' ``groups``), prepared once into
    ``work``."""
    key = hashlib.sha256(
        json.dumps(
            [negatives, seed, MAX_TOKENS, ChunkingSettings().to_dict(), file_sha256(TRAIN / "train_questions.jsonl.gz")]
            + ([twins, sample, TWINS_VERSION] if twins or sample else [])
            + (["dense"] if dense else [])
            + ([f"v2 {v2}", file_sha256(EVAL / "squad" / "questions_v2_dev.jsonl")] if v2 else [])
        ).encode()
    ).hexdigest()[:10]
    path = work / f"examples-{key}.npz"
    if path.exists():
        data = dict(np.load(path))
        if "groups" in data or not groups:
            return data  # else prepared before groups were kept: prepare again (the same examples)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_folder(DEFAULT_MODEL)))
    rows = examples(negatives, seed, twins, sample, dense, v2)
    ids, lengths, types_at, starts, ends, groups = [], [], [], [], [], []
    for b in range(0, len(rows), 1024):
        batch = rows[b : b + 1024]
        enc = tokenizer(
            [r[0] for r in batch],
            [r[1] for r in batch],
            truncation="only_second",
            max_length=MAX_TOKENS,
            return_offsets_mapping=True,
        )
        for i, (_, _, a_start, a_end, group) in enumerate(batch):
            seq = enc.sequence_ids(i)
            offsets = enc["offset_mapping"][i]
            if a_start < 0:
                s_tok = e_tok = 0
            else:
                inside = [
                    t for t, sid in enumerate(seq) if sid == 1 and offsets[t][0] < a_end and offsets[t][1] > a_start
                ]
                if not inside:
                    continue  # the answer was cut off
                s_tok, e_tok = inside[0], inside[-1]
            ids.append(np.array(enc["input_ids"][i], dtype=np.int32))
            lengths.append(len(enc["input_ids"][i]))
            types_at.append(seq.index(1))
            starts.append(s_tok)
            ends.append(e_tok)
            groups.append(group)
    data = {
        "ids": np.concatenate(ids),
        "lengths": np.array(lengths, dtype=np.int32),
        "types_at": np.array(types_at, dtype=np.int32),
        "starts": np.array(starts, dtype=np.int32),
        "ends": np.array(ends, dtype=np.int32),
        "groups": np.array(groups, dtype=np.int32),
    }
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, path)
    print(
        f"prepared {len(lengths):,} examples ({int((data['starts'] == 0).sum()):,} without an answer)", file=sys.stderr
    )
    return data


# --- training ------------------------------------------------------------------------------------


def batches(data: dict[str, np.ndarray], batch: int, seed: int) -> list[np.ndarray]:
    """Every example once, in a seeded order, grouped so that a batch holds similar lengths (less padding)."""
    order = np.random.default_rng(seed).permutation(len(data["lengths"]))
    out = []
    for b in range(0, len(order), batch * 50):
        block = order[b : b + batch * 50]
        block = block[np.argsort(data["lengths"][block], kind="stable")]
        out += [block[i : i + batch] for i in range(0, len(block), batch)]
    random.Random(seed).shuffle(out)
    return out


def group_batches(data: dict[str, np.ndarray], batch: int, seed: int) -> list[np.ndarray]:
    """Every example once, in a seeded order, a question's passages always in the same batch (for `listwise_loss`)."""
    groups = data["groups"]
    grouped = np.where(groups >= 0)[0]
    order = grouped[np.argsort(groups[grouped], kind="stable")]  # by group, then by position
    members = np.split(order, np.flatnonzero(np.diff(groups[order])) + 1) if len(order) else []
    units = members + [np.array([i]) for i in np.where(groups < 0)[0]]
    random.Random(seed).shuffle(units)
    out, current = [], []
    for unit in units:
        if current and sum(map(len, current)) + len(unit) > batch:
            out.append(np.concatenate(current))
            current = []
        current.append(unit)
    if current:
        out.append(np.concatenate(current))
    return out


def listwise_loss(start, end, passage, groups, answered):
    """Cross-entropy of each question's answering passage among its passages in the batch.

    A passage's score is its span evidence against its own "no answer" (log-sum-exp of the start and of the end
    scores over its tokens, less those at [CLS]): what the ranking reads as the margin, made comparable across a
    question's passages.  Questions with one passage, or none that answers, add nothing.
    """
    import torch

    outside = ~passage  # the question, [CLS] (the "no answer" itself) and padding
    span = torch.logsumexp(start.masked_fill(outside, -1e4), 1) + torch.logsumexp(end.masked_fill(outside, -1e4), 1)
    score = span - start[:, 0] - end[:, 0]
    losses = []
    for g in torch.unique(groups[groups >= 0]):
        rows = torch.where(groups == g)[0]
        gold = torch.where(answered[rows])[0]
        if len(rows) > 1 and len(gold) == 1:
            losses.append(torch.nn.functional.cross_entropy(score[rows][None], gold))
    return torch.stack(losses).mean() if losses else score.sum() * 0.0


def tensors(data: dict[str, np.ndarray], offsets: np.ndarray, rows: np.ndarray):
    import torch

    width = int(data["lengths"][rows].max())
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for k, r in enumerate(rows):
        n = data["lengths"][r]
        ids[k, :n] = data["ids"][offsets[r] : offsets[r] + n]
        mask[k, :n] = 1
        types[k, data["types_at"][r] : n] = 1
    return (
        torch.from_numpy(ids),
        torch.from_numpy(mask),
        torch.from_numpy(types),
        torch.from_numpy(data["starts"][rows].astype(np.int64)),
        torch.from_numpy(data["ends"][rows].astype(np.int64)),
    )


def train(args: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = tokenized(
        args.work, args.negatives, args.seed, args.twins, args.sample, args.dense, args.listwise > 0, args.v2
    )
    offsets = np.concatenate([[0], np.cumsum(data["lengths"])[:-1]])
    plan = group_batches(data, args.batch, args.seed) if args.listwise else batches(data, args.batch, args.seed)
    total = min(len(plan) * args.epochs, args.steps or 10**9)
    model = build_model(args.trained_from)
    if args.init:
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() for k, v in load_file(str(args.init)).items()}, strict=False)
    model = model.to(device)
    learning = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(learning, lr=args.lr, weight_decay=0.01)
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup))
    )
    ckpt = args.work / f"checkpoint-from{args.trained_from}.pt"
    step = 0
    if ckpt.exists():
        saved = torch.load(ckpt, map_location=device)
        model.load_state_dict(saved["model"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        step = saved["step"]
        print(f"resuming at step {step:,} of {total:,}", file=sys.stderr)
    model.train()
    started, losses = time.monotonic(), []
    loss_fn = torch.nn.CrossEntropyLoss()

    def save() -> None:
        state = {
            "model": trained_state(model, args.trained_from),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "step": step,
        }
        tmp = ckpt.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, ckpt)

    while step < total and time.monotonic() - started < args.minutes * 60:
        rows = plan[step % len(plan)]
        ids, mask, types, s_gold, e_gold = (t.to(device) for t in tensors(data, offsets, rows))
        start, end, _ = model(ids, mask, types)
        start = start.masked_fill(mask == 0, -1e4)
        end = end.masked_fill(mask == 0, -1e4)
        loss = (loss_fn(start, s_gold) + loss_fn(end, e_gold)) / 2
        if args.listwise:
            groups = torch.from_numpy(data["groups"][rows].astype(np.int64)).to(device)
            loss = loss + args.listwise * listwise_loss(start, end, (types == 1) & (mask == 1), groups, s_gold > 0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(learning, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        losses.append(float(loss.detach()))
        if step % 50 == 0:
            rate = len(losses) * args.batch / (time.monotonic() - started)
            print(f"step {step:,}/{total:,} loss {np.mean(losses[-50:]):.3f} ({rate:.1f} ex/s)", file=sys.stderr)
        if step % args.save_every == 0:
            save()
    save()
    print(f"stopped at step {step:,} of {total:,}", file=sys.stderr)


# --- evaluation and export -----------------------------------------------------------------------


def reader_from_checkpoint(args: argparse.Namespace) -> Reader:
    import torch
    from transformers import AutoTokenizer

    model = build_model(args.trained_from)
    saved = torch.load(args.work / f"checkpoint-from{args.trained_from}.pt", map_location="cpu")
    model.load_state_dict(saved["model"], strict=False)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_folder(DEFAULT_MODEL)))
    return Reader(model, tokenizer, {"trained_from": args.trained_from, "model": DEFAULT_MODEL, "steps": saved["step"]})


def evaluate(reader: Reader, n: int, seed: int) -> dict:
    """Exact-answer F1 of the top passage on SQuAD dev (0 when it holds no span), and F1 where it holds the answer."""
    engine = cached_engine("squad", squad_corpus()).reading(None)  # the ranker's top passage, not a reader's
    questions = read_jsonl(EVAL / "squad" / "questions_dev.jsonl")
    sample = random.Random(seed).sample(questions, min(n, len(questions)))
    scores, held, margins = [], [], []
    for q in sample:
        top = engine.ask(q["question"], k=1).passages[0]
        reading = reader.read(q["question"], [top.text])[0]
        text = top.text[reading.span[0] : reading.span[1]] if reading.span else ""
        score = max(answer_f1(text, a) for a in q["answers"])
        scores.append(score)
        margins.append(reading.margin)
        if any(a in top.text for a in q["answers"]):
            held.append(score)
    return {
        "questions": len(sample),
        "top_passage_f1": round(float(np.mean(scores)), 4),
        "f1_where_top_passage_holds_an_answer": round(float(np.mean(held)), 4),
        "top_passage_holds_an_answer": round(len(held) / len(sample), 4),
    }


def evaluate_v2(reader: Reader, n: int, seed: int, work: Path, articles: str = "all") -> dict:
    """How well the reader's margin tells SQuAD 2.0 dev's unanswerable questions from its answerable ones.

    Each question's first three passages of `ask` without a reader (what the reader reads in the product) are
    read; scored: the margin of the first passage, and the best margin of the three; and, marking the first
    passage's span where its margin is highest, the marked spans right (F1 >= 0.5) when the answerable questions
    given a right one are 0.45 (``precision_at_coverage_45``).  ``articles``: only the questions of those
    articles (the ones a ``--v2`` reader did not train on).  The twins are made from SQuAD v1.1 train.
    """
    import pickle

    from sklearn.metrics import roc_auc_score

    questions = [q for q in read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl") if v2_articles(q, articles)]
    sample = random.Random(seed).sample(questions, min(n, len(questions)))
    engine = cached_engine("squad", squad_corpus()).reading(None)
    parts = [len(sample), seed, index_key(), engine.ranker.fingerprint()] + ([articles] if articles != "all" else [])
    cached = work / f"v2-passages-{hashlib.sha256(repr(parts).encode()).hexdigest()[:12]}.pkl"
    if cached.exists():
        passages = pickle.loads(cached.read_bytes())
    else:
        passages = [[p.text for p in engine.ask(q["question"], k=3).passages] for q in sample]
        write_atomic(cached, pickle.dumps(passages))
    unanswerable, first, best, right = [], [], [], []
    for q, texts in zip(sample, passages, strict=True):
        if not texts:
            continue
        readings = reader.read(q["question"], texts)
        margins = [r.evidence for r in readings]
        span = readings[0].span
        shown = texts[0][span[0] : span[1]] if span else ""
        unanswerable.append(bool(q["is_impossible"]))
        first.append(margins[0])
        best.append(max(margins))
        right.append(
            not q["is_impossible"] and span is not None and max(answer_f1(shown, a) for a in q["answers"]) >= 0.5
        )
    y = np.array(unanswerable)
    out = {"questions": len(y), "unanswerable": int(y.sum()), "articles": articles}
    for name, margin in (("first", np.array(first)), ("best", np.array(best))):
        out[f"{name}_auc"] = round(float(roc_auc_score(y, -margin)), 4)
        for refused in (0.05, 0.10):
            bar = np.quantile(margin[~y], refused)  # refuse below it: this share of the answerable
            out[f"{name}_caught_at_{int(refused * 100)}"] = round(float((margin[y] < bar).mean()), 4)
    ranked = np.cumsum(np.array(right)[np.argsort(-np.array(first), kind="stable")])
    reach = int(np.searchsorted(ranked, 0.45 * (~y).sum()))
    out["precision_at_coverage_45"] = round(float(ranked[reach] / (reach + 1)), 4) if reach < len(ranked) else None
    return out


def init_record(path: Path) -> dict:
    """What a run started from: the tensors' sha256 and, for the shipped reader, its own record."""
    digest = file_sha256(path)
    shipped = json.loads(READER_RECORD.read_text()) if READER_RECORD.exists() else {}
    return {"weights_sha256": digest} | ({"record": shipped} if shipped.get("weights_sha256") == digest else {})


def export(args: argparse.Namespace, figures: dict) -> None:
    from safetensors.torch import save_file

    started_from = init_record(args.init) if args.init else None
    reader = reader_from_checkpoint(args)
    state = {k: v.half() for k, v in trained_state(reader.model, args.trained_from).items()}
    tmp = READER_FILE.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, READER_FILE)
    record = {
        "model": DEFAULT_MODEL,
        "trained_from": args.trained_from,
        "steps": reader.record["steps"],
        "batch": args.batch,
        "negatives": args.negatives,
        **({"twins": args.twins, "sample": args.sample, "lr": args.lr} if args.twins or args.sample else {}),
        **({"dense_negatives": True} if args.dense else {}),
        **({"listwise": args.listwise} if args.listwise else {}),
        **({"v2_articles": args.v2} if args.v2 else {}),
        **({"init": started_from} if started_from else {}),
        "max_tokens": MAX_TOKENS,
        "command": " ".join(["python", "benchmarks/train_reader.py"] + sys.argv[1:]),
        "data": {
            "squad/train_contexts.jsonl.gz": file_sha256(TRAIN / "train_contexts.jsonl.gz"),
            "squad/train_questions.jsonl.gz": file_sha256(TRAIN / "train_questions.jsonl.gz"),
            **({"squad/questions_v2_dev.jsonl": file_sha256(TRAIN / "questions_v2_dev.jsonl")} if args.v2 else {}),
        },
        "weights_sha256": file_sha256(READER_FILE),
        "held_out": figures,
    }
    write_atomic(READER_RECORD, (json.dumps(record, indent=1) + "\n").encode())
    print(json.dumps(record, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=CACHE / "reader")
    ap.add_argument("--minutes", type=float, default=0, help="train this long (0: no training)")
    ap.add_argument("--trained-from", type=int, default=4, help="the first layer that learns (0-5)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop the schedule here (0: the epochs)")
    ap.add_argument("--negatives", type=float, default=0.3, help="share of questions given a hard negative")
    ap.add_argument("--dense", action="store_true", help="also the embedder's closest chunk without an answer")
    ap.add_argument("--listwise", type=float, default=0.0, help="weight of a loss ranking a question's passages")
    ap.add_argument("--twins", type=float, default=0.0, help="share of questions given an unanswerable twin")
    ap.add_argument("--sample", type=int, default=0, help="train on this many questions drawn at random (0: all)")
    ap.add_argument(
        "--v2", choices=("even", "odd", "all"), default="", help="also SQuAD 2.0 dev's questions of these articles"
    )
    ap.add_argument(
        "--init", type=Path, default=None, help="start from these reader tensors (e.g. qa/reader.safetensors)"
    )
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=13, help="draws the sample, twins, negatives and batch order")
    ap.add_argument("--eval", type=int, default=0, help="SQuAD dev questions to score the checkpoint on")
    ap.add_argument("--eval-v2", type=int, default=0, help="SQuAD 2.0 dev questions to score no-answer on")
    ap.add_argument("--shipped", action="store_true", help="score the shipped reader instead of the checkpoint")
    ap.add_argument("--export", action="store_true", help="write the checkpoint as the shipped reader")
    args = ap.parse_args()
    torch_threads = os.environ.get("QA_TRAIN_THREADS")
    if torch_threads:
        import torch

        torch.set_num_threads(int(torch_threads))
    if args.minutes:
        train(args)
    figures = {}
    if args.eval or args.eval_v2:
        reader = Reader.load() if args.shipped else reader_from_checkpoint(args)
    if args.eval:
        figures = evaluate(reader, args.eval, EVAL_SEED)
        print(json.dumps(figures, indent=1))
    if args.eval_v2:
        held_out = {"even": "odd", "odd": "even"}.get(args.v2, "all")  # a --v2 all reader is in-sample on them all
        figures["squad2"] = evaluate_v2(reader, args.eval_v2, EVAL_SEED, args.work, held_out)
        print(json.dumps(figures["squad2"], indent=1))
    if args.export:
        export(args, figures)


if __name__ == "__main__":
    main()
