"""Inputs are never modified, whatever the run."""

from __future__ import annotations

from e2e_support import EXAMPLES_INCOMING, Run, Synthetic, Tree, hash_tree


def test_no_input_file_is_modified_added_or_removed_by_any_run(
    all_runs: list[Run],
    corpus: Tree,
    synthetic: Synthetic,
    edge_cases: Tree,
    examples_hashes_before: dict[str, str],
) -> None:
    assert len(all_runs) == 8  # every run has finished before the trees are hashed again
    assert hash_tree(corpus.root) == corpus.hashes_before
    assert hash_tree(synthetic.root) == synthetic.hashes_before
    assert hash_tree(edge_cases.root) == edge_cases.hashes_before
    assert hash_tree(EXAMPLES_INCOMING) == examples_hashes_before
