"""Preview benchmark: flashes of raw Markdown, ours against the naive preview.

    python bench/preview.py [--documents N] [--seed S] [--smoke] [--no-naive] [--show K]

Every prefix of every document of the corpus (``renderer.harness.flash``:
the issue's examples and model-like documents from a seeded generator) is a
state a reader may see.  For our engine (``MarkdownStream`` fed one
character at a time) and for the naive preview (each prefix rendered as it
is) it prints:

* flashes per 1,000 states: states whose visible text shows a Markdown
  marker (``* _ ~ ` [ ] <``) the final answer does not show there
  (goal for ours: at most 2);
* states showing a marker that is not in the text fed so far (goal: 0);
* how many flashes are at an intraword ``*`` (``a*b``) that the final pairs
  with a later ``*`` (CommonMark reads ``x*y and a*b`` as emphasis): no
  preview can tell before the second one arrives.

The exact definitions are in ``renderer/harness/flash.py``.  ``--smoke``
measures a few documents (a few seconds) to check that it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from renderer.harness.flash import corpus, count_flashes, naive_states, stream_states

DOCUMENTS = 500
SMOKE_DOCUMENTS = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=DOCUMENTS, help=f"corpus size (default {DOCUMENTS})")
    parser.add_argument("--seed", type=int, default=12, help="the generator's seed (default 12)")
    parser.add_argument("--no-naive", action="store_true", help="measure our preview only")
    parser.add_argument("--show", type=int, default=0, help="print up to K flashing states of ours")
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that it runs: {SMOKE_DOCUMENTS} documents")
    args = parser.parse_args()
    if args.smoke:
        args.documents = SMOKE_DOCUMENTS
    documents = corpus(args.documents, args.seed)
    print(f"corpus: {len(documents)} documents, {sum(map(len, documents))} characters (seed {args.seed})")
    results = {}
    previews = (("ours", stream_states),) if args.no_naive else (("ours", stream_states), ("naive", naive_states))
    for name, states in previews:
        start = time.process_time()
        count = count_flashes(documents, states, keep=args.show if name == "ours" else 0)
        results[name] = count
        print(
            f"{name:5}  states {count.states:7d}   flashes {count.flashes:6d} = {count.per_thousand:6.2f} per 1,000"
            f"   marker not in the text: {count.added:5d}   ({time.process_time() - start:.1f} s CPU)"
        )
        other = count.flashes - count.intraword
        print(
            f"       of the flashes, {count.intraword} at an intraword * the final pairs later (a*b ... c*d),"
            f" {other} others = {1000 * other / max(count.states, 1):.2f} per 1,000"
        )
    ours = results["ours"]
    print(
        f"goals (ours): flashes per 1,000 <= 2: {'met' if ours.per_thousand <= 2 else 'NOT MET'};"
        f" marker not in the text == 0: {'met' if ours.added == 0 else 'NOT MET'}"
    )
    for prefix, shown in ours.examples or []:
        print(f"  ...{prefix[-70:]!r}\n    shows {shown}")


if __name__ == "__main__":
    main()
