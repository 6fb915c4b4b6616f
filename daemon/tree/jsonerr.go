package tree

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// jsonError explains invalid JSON the way encoding/json does ("unexpected
// EOF", "invalid character 'x' after object key"), which reads better than
// the fast parser's chain of "cannot parse" messages; only the error path
// pays for the second parse.
func jsonError(data []byte, fast error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("push is not valid JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("push has data after the JSON value")
	}
	return fmt.Errorf("push is not valid JSON: %w", fast)
}
