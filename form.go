package deskie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"sort"
	"strings"
)

// Upload is a file sent as a multipart attachment. The API takes at most 25 MB per
// file and 50 MB per request.
type Upload struct {
	// Name is the file name shown to agents.
	Name string
	// Body is read once, when the request is built.
	Body io.Reader
	// ContentType defaults to application/octet-stream.
	ContentType string
}

const (
	maxUploadBytes  = 25 << 20
	maxRequestBytes = 50 << 20
)

// formBody is a multipart body built in memory, so a retry re-sends the same bytes.
type formBody struct {
	data        []byte
	contentType string
}

// multipartBody encodes fields (any JSON-encodable value, normally the same struct
// the JSON body is made of) as bracketed form fields under root — root[key],
// root[custom_fields][cf_25], root[labels][] — and files as root[attachments][1],
// root[attachments][2], … (numbered from 1, as in the vendor's example).
func multipartBody(root string, fields any, files []Upload) (*formBody, error) {
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := writeFormValue(w, root, tree); err != nil {
		return nil, err
	}
	for i, f := range files {
		field := fmt.Sprintf("Attachments[%d]", i)
		if f.Body == nil || strings.TrimSpace(f.Name) == "" {
			return nil, &ArgumentError{Field: field, Reason: "needs a Name and a Body"}
		}
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", multipart.FileContentDisposition(fmt.Sprintf("%s[attachments][%d]", root, i+1), f.Name))
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		part, err := w.CreatePart(h)
		if err != nil {
			return nil, err
		}
		n, err := io.Copy(part, io.LimitReader(f.Body, maxUploadBytes+1))
		if err != nil {
			return nil, fmt.Errorf("deskie: reading %s %q: %w", field, f.Name, err)
		}
		if n > maxUploadBytes {
			return nil, &ArgumentError{Field: field, Reason: fmt.Sprintf("%q is larger than the API's 25 MB per file", f.Name)}
		}
		if buf.Len() > maxRequestBytes {
			return nil, &ArgumentError{Field: "Attachments", Reason: "larger than the API's 50 MB per request"}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &formBody{data: buf.Bytes(), contentType: w.FormDataContentType()}, nil
}

// writeFormValue flattens a decoded JSON tree into PHP-style bracketed fields.
func writeFormValue(w *multipart.Writer, name string, v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := writeFormValue(w, name+"["+k+"]", x[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for _, item := range x {
			if err := writeFormValue(w, name+"[]", item); err != nil {
				return err
			}
		}
		return nil
	case bool:
		if x {
			return w.WriteField(name, "1")
		}
		return w.WriteField(name, "0")
	default:
		return w.WriteField(name, fmt.Sprint(x))
	}
}
