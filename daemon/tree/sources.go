package tree

import "fmt"

// Exactly-once merges for forwarders. A relay numbers what it forwards; a
// batch carries the range of numbers it holds. The tree remembers, per
// source, the highest number merged, in the same lock as the merge and in
// the same snapshot as the nodes. A batch entirely at or below it is a
// resend and is skipped; a batch that would leave a gap (or overlap part of
// what merged) is refused with the number merged so far, and the forwarder
// resends from there. So a forwarder can retry anything it has no proof of
// without counting it twice, even across a crash of either side.

// SeqConflictError says a batch does not follow the source's last merged
// number: the forwarder must resend from Applied+1.
type SeqConflictError struct {
	Source      string
	Applied     uint64
	First, Last uint64
}

func (e *SeqConflictError) Error() string {
	return fmt.Sprintf("batch %d-%d from %q does not follow %d, the last merged", e.First, e.Last, e.Source, e.Applied)
}

// MergeFrom merges p, which holds numbers first..last of source, exactly
// once. It reports whether it merged (false: already merged). When the batch
// does not start right after the last merged number, it returns a
// *SeqConflictError.
func (t *Tree) MergeFrom(source string, first, last uint64, p *Push) (MergeResult, bool, error) {
	if source == "" || first == 0 || last < first {
		return MergeResult{}, false, fmt.Errorf("bad batch %d-%d from %q", first, last, source)
	}
	var merged bool
	var conflict *SeqConflictError
	res, err := t.applyWith(p.acts, p.Deltas, func() bool {
		applied := t.seqs[source]
		switch {
		case last <= applied:
			return false // a resend of what merged
		case first != applied+1:
			conflict = &SeqConflictError{Source: source, Applied: applied, First: first, Last: last}
			return false
		}
		t.seqs[source] = last
		merged = true
		return true
	}, nil)
	if err == nil && conflict != nil {
		err = conflict
	}
	return res, merged, err
}

// SourceSeq returns the highest number of source merged, and the highest
// written by the last snapshot (what survives a crash of this process).
func (t *Tree) SourceSeq(source string) (applied, durable uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.seqs[source], t.durable[source]
}
