package push

import "fmt"

// Member is one top-level member of a push object, as sent.
type Member struct {
	Object int    // its object: 0 for a single object, else the list position
	Name   string // the name as Decode reads it ("defaultaction" too)
	Raw    []byte // `"name": value`, the bytes of the document
}

// Scan checks data exactly as Decode does, without building the
// push, and returns its top-level members in order and the number of
// deltas it holds. A relay sharding by top-level name forwards members as
// they came instead of re-encoding parsed deltas. Raw slices point into data.
func (d *Decoder) Scan(data []byte) ([]Member, int, error) {
	var members []Member
	n, err := d.walk(data, nil, func(obj int, name string) {
		members = append(members, Member{Object: obj, Name: name})
	})
	if err != nil {
		// The check walk keeps no paths; the decode names the offending one.
		if _, perr := d.Decode(data); perr != nil {
			return nil, 0, perr
		}
		return nil, 0, err
	}
	i := 0
	ok := rawMembers(data, func(obj int, raw []byte) bool {
		if i >= len(members) || members[i].Object != obj {
			return false
		}
		members[i].Raw = raw
		i++
		return true
	})
	if !ok || i != len(members) {
		return nil, 0, fmt.Errorf("push: cannot find the members of the parsed document")
	}
	return members, n, nil
}

// Scan scans a JSON push with a Decoder of its own (see Decoder.Scan).
func Scan(data []byte) ([]Member, int, error) { return new(Decoder).Scan(data) }

// rawMembers calls fn with the bytes of every top-level member of the push
// objects in data, which has been parsed as JSON already. It stops and
// returns false when fn does, or when data is not shaped as expected.
func rawMembers(data []byte, fn func(obj int, raw []byte) bool) bool {
	i := skipWS(data, 0)
	if i >= len(data) {
		return false
	}
	switch data[i] {
	case '{':
		end := rawObject(data, i, 0, fn)
		return end > 0 && skipWS(data, end) == len(data)
	case '[':
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			return true
		}
		for obj := 0; ; obj++ {
			if i >= len(data) || data[i] != '{' {
				return false
			}
			if i = rawObject(data, i, obj, fn); i < 0 {
				return false
			}
			if i = skipWS(data, i); i >= len(data) {
				return false
			}
			if data[i] == ']' {
				return skipWS(data, i+1) == len(data)
			}
			if data[i] != ',' {
				return false
			}
			i = skipWS(data, i+1)
		}
	}
	return false
}

// rawObject reads the object starting at data[i] ('{') and returns the
// index after it, or -1.
func rawObject(data []byte, i, obj int, fn func(int, []byte) bool) int {
	if i = skipWS(data, i+1); i < len(data) && data[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return -1
		}
		start := i
		if i = skipString(data, i); i < 0 {
			return -1
		}
		if i = skipWS(data, i); i >= len(data) || data[i] != ':' {
			return -1
		}
		if i = skipValue(data, skipWS(data, i+1)); i < 0 {
			return -1
		}
		if !fn(obj, data[start:i]) {
			return -1
		}
		if i = skipWS(data, i); i >= len(data) {
			return -1
		}
		switch data[i] {
		case '}':
			return i + 1
		case ',':
			i = skipWS(data, i+1)
		default:
			return -1
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}

// Bytes the raw scanners stop at (tables: a relay scans every byte it
// forwards).
var (
	stringStops = [256]bool{'"': true, '\\': true}
	nestStops   = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}
)

// skipString returns the index after the string starting at data[i] ('"').
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		for j < len(data) && !stringStops[data[j]] {
			j++
		}
		if j == len(data) {
			break
		}
		if data[j] == '"' {
			return j + 1
		}
		j++ // the escaped byte
	}
	return -1
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			for j < len(data) && !nestStops[data[j]] {
				j++
			}
			if j == len(data) {
				break
			}
			switch data[j] {
			case '"':
				if j = skipString(data, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i // a number, true, false or null
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' && data[j] > ' ' {
		j++
	}
	return j
}
