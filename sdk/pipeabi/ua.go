package pipeabi

import "strings"

// UA is a user agent split into its RFC 9110 product tokens and the pieces
// of its parenthesised comments. The host does this once per line so pipes
// classify browsers and systems by comparing short tokens instead of
// searching the whole string (Go's wasm target has no fast bytes.Index).
//
//	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
//	Products: Mozilla 5.0 | AppleWebKit 537.36 | Chrome 120.0.0.0 | Safari 537.36
//	Comments: "Windows NT 10.0" | "Win64" | "x64" | "KHTML, like Gecko"
type UA struct {
	Products []Product
	Comments []string
}

// Product is one name/version token; Version is "" when the token has no
// slash (e.g. "Mobile").
type Product struct{ Name, Version string }

// Caps on tokens kept per user agent, so a hostile header stays cheap.
const (
	MaxUAProducts = 16
	MaxUAComments = 24
)

// Product returns the version of the first product named name and whether
// there is one.
func (u *UA) Product(name string) (string, bool) {
	for _, p := range u.Products {
		if p.Name == name {
			return p.Version, true
		}
	}
	return "", false
}

// CommentPrefix returns the first comment starting with prefix (and true).
func (u *UA) CommentPrefix(prefix string) (string, bool) {
	for _, c := range u.Comments {
		if strings.HasPrefix(c, prefix) {
			return c, true
		}
	}
	return "", false
}

// TokenizeUA splits s into dst (whose slices it reuses). Products are the
// space-separated tokens outside parentheses, split at the first '/';
// comments are the ';'-separated, space-trimmed pieces of each top-level
// parenthesised group (nested parentheses stay inside their piece).
// Strings alias s.
func TokenizeUA(dst UA, s string) UA {
	dst.Products, dst.Comments = dst.Products[:0], dst.Comments[:0]
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			depth, start := 0, i+1
			j := i
			for ; j < len(s); j++ {
				switch s[j] {
				case '(':
					depth++
				case ')':
					depth--
				case ';':
					if depth == 1 {
						dst = addComment(dst, s[start:j])
						start = j + 1
					}
				}
				if depth == 0 {
					break
				}
			}
			end := j
			if j >= len(s) {
				end = len(s)
			}
			dst = addComment(dst, s[start:end])
			i = end + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' {
				j++
			}
			if len(dst.Products) < MaxUAProducts {
				name, ver, _ := strings.Cut(s[i:j], "/")
				if name != "" {
					dst.Products = append(dst.Products, Product{Name: name, Version: ver})
				}
			}
			i = j
		}
	}
	return dst
}

func addComment(dst UA, c string) UA {
	c = strings.TrimSpace(c)
	if c != "" && len(dst.Comments) < MaxUAComments {
		dst.Comments = append(dst.Comments, c)
	}
	return dst
}
