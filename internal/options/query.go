package options

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// fieldKinds maps each wire name to its Go kind, read off raw's tags, so the
// query form can never drift from the JSON form.
var fieldKinds = func() map[string]reflect.Kind {
	m := map[string]reflect.Kind{}
	t := reflect.TypeFor[raw]()
	for i := range t.NumField() {
		f := t.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		m[strings.Split(f.Tag.Get("json"), ",")[0]] = ft.Kind()
	}
	return m
}()

// ParseQuery reads the options from query parameters (GET /capture with a
// signed URL). Scalars are plain values; objects and arrays are JSON text.
func ParseQuery(q url.Values, lim Limits) (*Options, error) {
	obj := make(map[string]any, len(q))
	for name, vals := range q {
		kind, ok := fieldKinds[name]
		switch {
		case name == "":
			return nil, fieldErr("query", "has a parameter with an empty name")
		case !ok:
			return nil, fieldErr(name, "is not a known option")
		}
		if len(vals) != 1 {
			return nil, fieldErr(name, "must be given once")
		}
		s := vals[0]
		if name == "proxy" && strings.Contains(s, "@") {
			// A query string is logged on its way (load balancer, access logs).
			return nil, fieldErr(name, "with credentials must be sent in a JSON body, never in a query string")
		}
		switch kind {
		case reflect.String:
			obj[name] = s
		case reflect.Bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, fieldErr(name, "must be true or false")
			}
			obj[name] = b
		case reflect.Int:
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, fieldErr(name, "must be an integer")
			}
			obj[name] = n
		case reflect.Float64:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fieldErr(name, "must be a number")
			}
			obj[name] = f
		default:
			obj[name] = json.RawMessage(s)
		}
	}
	body, err := json.Marshal(obj)
	if err != nil {
		// Only a RawMessage that is not JSON fails here.
		return nil, fieldErr("query", "an object or array parameter is not valid JSON")
	}
	return ParseJSON(body, lim)
}
