package report

import "math"

// Top keeps at most n rows in each panel (and n sub-rows under each row),
// folding the rest into one _other row, so a live page can ask for a
// short report of a large tree. Series (days, hours: Chart set) stay
// whole, as a cut series would mislead, and the slowest requests are only
// cut: they are a ranking, a sum of them means nothing. In the _other row
// counts, bytes and percents add up; other units (seconds, codes) are
// null. n <= 0 keeps everything.
func (r *Report) Top(n int) {
	if n <= 0 {
		return
	}
	for i := range r.Panels {
		p := &r.Panels[i]
		if p.Chart != "" {
			continue
		}
		fold := p.ID != "slowest"
		p.Rows = topRows(p.Rows, p.Columns, n, fold)
	}
}

func topRows(rows []Row, cols []Column, n int, fold bool) []Row {
	for i := range rows {
		rows[i].Rows = topRows(rows[i].Rows, cols, n, fold)
	}
	if len(rows) <= n {
		return rows
	}
	// A bounded pipe's own _other row is sorted last: it is in rest and
	// joins the fold.
	kept, rest := rows[:n], rows[n:]
	if !fold {
		return kept
	}
	other := Row{Name: Other, Values: make([]Num, len(cols))}
	for j, c := range cols {
		if !additive(c.Unit) {
			other.Values[j] = Num(math.NaN())
		}
	}
	for _, r := range rest {
		for j, c := range cols {
			if additive(c.Unit) && j < len(r.Values) && !math.IsNaN(float64(r.Values[j])) {
				other.Values[j] += r.Values[j]
			}
		}
	}
	for j, c := range cols {
		if c.Unit == "percent" {
			other.Values[j] = Num(math.Round(float64(other.Values[j])*100) / 100)
		}
	}
	return append(kept[:len(kept):len(kept)], other)
}

func additive(unit string) bool {
	return unit == "count" || unit == "bytes" || unit == "percent"
}
