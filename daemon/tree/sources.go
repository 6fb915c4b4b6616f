package tree

// Exactly-once merges for forwarders. A relay numbers its batches; the tree
// remembers, per source, the highest batch merged, in the same lock as the
// merge and in the same snapshot as the nodes. A batch at or below that
// number is a resend and is skipped, so a forwarder can retry anything it
// has no proof of without counting it twice.

// MergeFrom merges p as batch seq of source, exactly once. It reports
// whether the batch merged (false: it had already been merged).
func (t *Tree) MergeFrom(source string, seq uint64, p *Push) (MergeResult, bool, error) {
	if source == "" {
		res, err := t.Merge(p)
		return res, err == nil, err
	}
	res, merged, err := t.applyOnce(source, seq, p.acts, p.Deltas)
	return res, merged, err
}

// SourceSeq returns the highest batch of source merged, and the highest
// written by the last snapshot (durable across a crash of this process).
func (t *Tree) SourceSeq(source string) (applied, durable uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.seqs[source], t.durable[source]
}

func (t *Tree) applyOnce(source string, seq uint64, acts []actionSet, deltas []Delta) (MergeResult, bool, error) {
	t.mu.RLock()
	done := seq <= t.seqs[source]
	t.mu.RUnlock()
	if done {
		return MergeResult{Version: t.Version()}, false, nil
	}
	var merged bool
	res, err := t.applyWith(acts, deltas, func() bool {
		if seq <= t.seqs[source] {
			return false // merged meanwhile by a concurrent resend
		}
		t.seqs[source] = seq
		merged = true
		return true
	})
	return res, merged, err
}
