package capture

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// world is an isolated JavaScript world in the tab's main frame where the
// service's own helpers run (visibility, rectangles, animations, the HTML
// serializer). It shares the page's DOM but none of its JavaScript objects,
// so a page that overrides getBoundingClientRect, querySelector or
// getComputedStyle cannot lie to them. The client's custom_js still runs as
// page script.
type world struct {
	mu sync.Mutex
	id runtime.ExecutionContextID // 0 until made, and again after a navigation
}

type worldKey struct{}

// withWorld gives the capture's steps a world of their own.
func withWorld(ctx context.Context) context.Context {
	return context.WithValue(ctx, worldKey{}, &world{})
}

// contextID returns the world's execution context, making it on first use
// (and again after the document it lived in went away).
func (w *world) contextID(ctx context.Context) (runtime.ExecutionContextID, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.id != 0 {
		return w.id, nil
	}
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		return 0, err
	}
	res, err := chromedp.Call(ctx, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
		FrameID: tree.FrameTree.Frame.ID, WorldName: "pixashot"})
	if err != nil {
		return 0, err
	}
	w.id = res.ExecutionContextID
	return w.id, nil
}

func (w *world) forget(id runtime.ExecutionContextID) {
	w.mu.Lock()
	if w.id == id {
		w.id = 0
	}
	w.mu.Unlock()
}

// goneContext is how Chrome answers an evaluation in a world whose document
// was replaced by a navigation.
func goneContext(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Cannot find context")
}

// callJS applies the JavaScript function fn to args (passed as JSON, never
// spliced into code as text) in the capture's isolated world, and awaits a
// returned promise.
func callJS[T any](ctx context.Context, fn string, args ...any) (T, error) {
	var zero T
	enc := make([]string, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return zero, err
		}
		enc[i] = string(b)
	}
	expr := "(" + fn + ")(" + strings.Join(enc, ",") + ")"
	w, _ := ctx.Value(worldKey{}).(*world)
	if w == nil {
		return zero, errors.New("capture: no isolated world in this context")
	}
	for attempt := 0; ; attempt++ {
		id, err := w.contextID(ctx)
		if err != nil {
			return zero, err
		}
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise, inContext(id)))
		if goneContext(err) && attempt == 0 {
			w.forget(id)
			continue
		}
		return v, err
	}
}

func inContext(id runtime.ExecutionContextID) chromedp.EvaluateOption {
	return func(p *runtime.EvaluateParams) { p.ContextID = id }
}
