package deskie

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Decoding is forgiving, because the API is loose about types:
//   - dates come as RFC1123Z ("Mon, 05 May 2014 00:15:17 +0300"); "-", "" and null
//     mean unset and decode to the zero time; RFC3339 is accepted too;
//   - ids are int64 (real payloads carry user ids above 2^31) and may arrive as
//     numbers or as decimal strings;
//   - booleans may arrive as true/false, 0/1 or their string forms;
//   - unknown fields are ignored.

// unquote returns the text of a JSON string token; only a string with escapes
// takes the full JSON decoder (the common case is a plain copy).
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		return string(b[1 : len(b)-1]), nil
	}
	var v string
	err := json.Unmarshal(b, &v)
	return v, err
}

// flexInt decodes a JSON number, a numeric string, "", "-" or null (0).
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	switch s {
	case "", "-", "null":
		*n = 0
		return nil
	}
	v, err := parseIntText(s)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*n = flexInt(v)
	return nil
}

// parseIntText parses a decimal integer, tolerating a float form with no fraction
// ("12.0", "1e3") as JSON encoders sometimes produce.
func parseIntText(s string) (int64, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("not an integer: %q", s)
	}
	return int64(f), nil
}

// flexBool decodes true/false, 0/1, "0"/"1", "true"/"false", "yes"/"no", "" and null.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	b2, ok := parseBoolText(string(bytes.Trim(b, `"`)))
	if !ok {
		return fmt.Errorf("not a boolean: %s", b)
	}
	*v = flexBool(b2)
	return nil
}

func parseBoolText(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off", "", "null", "-":
		return false, true
	}
	return false, false
}

// flexTime decodes an API date; "-", "", "0" and null are the zero time.
type flexTime time.Time

var timeLayouts = []string{time.RFC1123Z, time.RFC1123, time.RFC3339Nano, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05"}

func (t *flexTime) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' {
		if string(b) == "null" || string(b) == "0" {
			*t = flexTime{}
			return nil
		}
		// a Unix timestamp
		secs, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("not a date: %s", b)
		}
		*t = flexTime(time.Unix(secs, 0))
		return nil
	}
	s, err := unquote(b)
	if err != nil {
		return err
	}
	parsed, err := parseTimeText(s)
	if err != nil {
		return err
	}
	*t = flexTime(parsed)
	return nil
}

func parseTimeText(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" || s == "0" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date: %q", s)
}

// flexString decodes a string, a number (its text) or null.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v, err := unquote(b)
		if err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	if string(b) == "null" {
		*s = ""
		return nil
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return fmt.Errorf("not a string: %.20s", b)
	}
	*s = flexString(b)
	return nil
}

// flexInts decodes a list of ids, each a number or a string; null or "" is empty.
type flexInts []int64

func (l *flexInts) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if string(t) == "null" || string(t) == `""` {
		*l = nil
		return nil
	}
	var raw []flexInt
	if err := json.Unmarshal(t, &raw); err != nil {
		return err
	}
	out := make([]int64, len(raw))
	for i, v := range raw {
		out[i] = int64(v)
	}
	*l = out
	return nil
}

// decodeList decodes a list answer into its items and total_count. The API sends
// {"0":{"case":{…}},"1":{…},"total_count":N} (numbered keys, items wrapped in their
// root key); an array of items (wrapped or bare), [] and {"total_count":0} are
// accepted too. Items come back in numeric key order.
func decodeList[T any](data []byte, root string) (items []*T, total int, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil, 0, nil
	}
	if data[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, 0, err
		}
		items = make([]*T, 0, len(raws))
		for i, raw := range raws {
			item, err := decodeItem[T](raw, root)
			if err != nil {
				return nil, 0, fmt.Errorf("item %d: %w", i, err)
			}
			items = append(items, item)
		}
		return items, -1, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, 0, err
	}
	type keyed struct {
		n    int
		item *T
	}
	list := make([]keyed, 0, len(obj))
	total = -1
	for k, raw := range obj {
		n, convErr := strconv.Atoi(k)
		if convErr != nil {
			if k == "total_count" {
				var tc flexInt
				if err := json.Unmarshal(raw, &tc); err != nil {
					return nil, 0, fmt.Errorf("total_count: %w", err)
				}
				total = int(tc)
			}
			continue // other metadata is ignored
		}
		item, err := decodeItem[T](raw, root)
		if err != nil {
			return nil, 0, fmt.Errorf("item %q: %w", k, err)
		}
		list = append(list, keyed{n, item})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n < list[j].n })
	items = make([]*T, len(list))
	for i, k := range list {
		items[i] = k.item
	}
	return items, total, nil
}

// decodeItem decodes {"<root>":{…}} or a bare {…}.
func decodeItem[T any](raw json.RawMessage, root string) (*T, error) {
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, err
	}
	if inner, ok := wrapped[root]; ok && len(wrapped) == 1 {
		raw = inner
	}
	item := new(T)
	if err := json.Unmarshal(raw, item); err != nil {
		return nil, err
	}
	return item, nil
}

// oneEnvelope decodes a single-object answer, {"<root>":{…}}, straight into the
// wire form W. It is the one decoder of cases, users and messages; a missing root
// object is a decoding error, reported by Client.Do as a *DecodeError with the
// same path an *APIError would carry.
type oneEnvelope[W any] struct {
	root string
	item *W
}

func (e *oneEnvelope[W]) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	raw, ok := m[e.root]
	if !ok || string(raw) == "null" {
		return fmt.Errorf("answer has no %q object", e.root)
	}
	e.item = new(W)
	return json.Unmarshal(raw, e.item)
}

// sendOne makes a call whose answer is one object under root.
func sendOne[W any](ctx context.Context, c *Client, method, path, root string, body any) (*W, error) {
	env := &oneEnvelope[W]{root: root}
	if err := c.call(ctx, method, path, nil, body, env); err != nil {
		return nil, err
	}
	return env.item, nil
}
