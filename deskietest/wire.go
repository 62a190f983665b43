package deskietest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

// writeList writes the API's list shape: {"0":{"<root>":{…}},…,"total_count":N}.
// Keys are written in numeric order.
func writeList(w http.ResponseWriter, root string, items []map[string]any, total int) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, it := range items {
		data, _ := json.Marshal(map[string]any{root: it})
		fmt.Fprintf(&b, "%q:%s,", strconv.Itoa(i), data)
	}
	fmt.Fprintf(&b, `"total_count":%d}`, total)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// upload is a file received in a multipart body.
type upload struct {
	name, contentType string
	size              int64
}

// object is a request body's fields, decoded from JSON ({"<root>":{…}} or bare)
// or from bracketed form fields (root[key], root[custom_fields][cf_1], root[labels][]).
type object map[string]any

var errBody = errors.New("malformed body")

// readObject decodes the request body into the object under root.
func readObject(r *http.Request, root string) (object, []upload, error) {
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, nil, errBody
		}
		r.Body = http.MaxBytesReader(nil, r.Body, 60<<20)
		if err := r.ParseMultipartForm(32 << 20); err != nil { //nolint:gosec // G120: capped just above
			return nil, nil, errBody
		}
		obj := object{}
		for k, vs := range r.MultipartForm.Value {
			for _, v := range vs {
				obj.setBracketed(root, k, v)
			}
		}
		var files []upload
		for k, fhs := range r.MultipartForm.File {
			if !strings.HasPrefix(k, root+"[attachments]") {
				continue
			}
			for _, fh := range fhs {
				files = append(files, upload{name: fh.Filename, contentType: fh.Header.Get("Content-Type"), size: fh.Size})
			}
		}
		return obj, files, nil
	case "application/x-www-form-urlencoded":
		body, _ := io.ReadAll(r.Body)
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, errBody
		}
		obj := object{}
		for k, vs := range values {
			for _, v := range vs {
				obj.setBracketed(root, k, v)
			}
		}
		return obj, nil, nil
	default:
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, errBody
		}
		if inner, ok := raw[root].(map[string]any); ok && len(raw) == 1 {
			return object(inner), nil, nil
		}
		return object(raw), nil, nil // bare fields are accepted too
	}
}

// setBracketed stores root[a][b]=v as o[a][b]=v, and root[a][]=v as a list.
func (o object) setBracketed(root, key, value string) {
	rest, ok := strings.CutPrefix(key, root+"[")
	if !ok {
		o[key] = value
		return
	}
	parts := strings.Split(strings.TrimSuffix(rest, "]"), "][")
	switch {
	case len(parts) == 1:
		o[parts[0]] = value
	case len(parts) == 2 && parts[1] == "":
		list, _ := o[parts[0]].([]any)
		o[parts[0]] = append(list, value)
	default:
		sub, _ := o[parts[0]].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			o[parts[0]] = sub
		}
		sub[strings.Join(parts[1:], "][")] = value
	}
}

func (o object) str(key string) string {
	switch v := o[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// int reads an integer field sent as a number or a string; ok is false when it is
// present but not an integer.
func (o object) int(key string) (int64, bool) {
	s := o.str(key)
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (o object) has(key string) bool { _, ok := o[key]; return ok }

func (o object) ints(key string) ([]int64, bool) {
	list, ok := o[key].([]any)
	if !ok {
		return nil, !o.has(key)
	}
	out := make([]int64, 0, len(list))
	for _, v := range list {
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func (o object) strs(key string) []string {
	list, _ := o[key].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// queryValues reads a multi-value filter sent as key[]=a&key[]=b, key=a,b or key=a.
func queryValues(q url.Values, key string) []string {
	var out []string
	for _, v := range append(q[key+"[]"], q[key]...) {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// textMatch applies the API's search syntax: substring by default; "^x^" exact,
// "^x" starts with, "x^" ends with.
func textMatch(pattern, value string) bool {
	exactStart := strings.HasPrefix(pattern, "^")
	exactEnd := strings.HasSuffix(pattern, "^") && len(pattern) > 1
	p := strings.TrimSuffix(strings.TrimPrefix(pattern, "^"), "^")
	switch {
	case exactStart && exactEnd:
		return value == p
	case exactStart:
		return strings.HasPrefix(value, p)
	case exactEnd:
		return strings.HasSuffix(value, p)
	default:
		return strings.Contains(value, p)
	}
}

// paging reads page (1..500) and limit (1..100, default 100).
func paging(q url.Values) (page, limit int, ok bool) {
	page, limit = 1, 100
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return 0, 0, false
		}
		page = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, false
		}
		limit = n
	}
	return page, limit, true
}

// renderPage renders one page of items in their wire form, counting pages from
// the end when backward is set.
func renderPage[T any](items []T, page, limit int, backward bool, render func(T) map[string]any) []map[string]any {
	n := len(items)
	start := min((page-1)*limit, n)
	end := min(start+limit, n)
	out := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		if backward {
			out = append(out, render(items[n-1-i]))
		} else {
			out = append(out, render(items[i]))
		}
	}
	return out
}
