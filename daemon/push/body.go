package push

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
)

// Parts are what one push body holds: JSON documents and access-log text
// (each part may hold many lines).
type Parts struct {
	JSON [][]byte
	Logs []string
}

// ErrNoFields is a push form with neither field.
var ErrNoFields = errors.New(`push form has neither a "json" nor an "accesslog" field`)

// DecodeBody splits a push body by its Content-Type: form fields json and
// accesslog (urlencoded or multipart, whose fields may be uploaded files:
// curl -F json=@f), a text/plain body of access-log lines, or else a raw
// JSON body. A multipart form keeps at most maxMemory bytes in memory
// (the rest goes to temporary files while it is read). A form's read
// errors are wrapped: errors.Is(err, multipart.ErrMessageTooLarge) tells
// a form over the limit.
func DecodeBody(contentType string, body []byte, maxMemory int64) (Parts, error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" && looksJSON(body) {
		// `curl -d '{...}'` sends raw JSON labelled as a form: take it as JSON.
		mt = "application/json"
	}
	var p Parts
	switch mt {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, fmt.Errorf("cannot read push form: %w", err)
		}
		p = fieldParts(form)
	case "multipart/form-data":
		var err error
		if p, err = multipartParts(body, params["boundary"], maxMemory); err != nil {
			return p, fmt.Errorf("cannot read push form: %w", err)
		}
	case "text/plain":
		return Parts{Logs: []string{string(body)}}, nil
	default:
		return Parts{JSON: [][]byte{body}}, nil
	}
	if len(p.JSON) == 0 && len(p.Logs) == 0 {
		return p, ErrNoFields
	}
	return p, nil
}

func looksJSON(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func fieldParts(form url.Values) Parts {
	var p Parts
	for _, j := range form["json"] {
		p.JSON = append(p.JSON, []byte(j))
	}
	p.Logs = form["accesslog"]
	return p
}

func multipartParts(body []byte, boundary string, maxMemory int64) (Parts, error) {
	if boundary == "" {
		return Parts{}, http.ErrMissingBoundary
	}
	form, err := multipart.NewReader(bytes.NewReader(body), boundary).ReadForm(maxMemory)
	if err != nil {
		return Parts{}, err
	}
	defer form.RemoveAll()
	p := fieldParts(form.Value)
	p.JSON = append(p.JSON, formFiles(form, "json")...)
	for _, b := range formFiles(form, "accesslog") {
		p.Logs = append(p.Logs, string(b))
	}
	return p, nil
}

// formFiles reads the uploaded files of a multipart field; one that
// cannot be read is left out.
func formFiles(form *multipart.Form, field string) [][]byte {
	var out [][]byte
	for _, fh := range form.File[field] {
		f, err := fh.Open()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}
