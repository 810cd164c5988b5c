// Package extract turns a rendered page's HTML into its main content as
// Markdown or plain text: readability finds the article (what a reader
// view shows, without navigation, ads and footers), html-to-markdown
// writes it. Both run on bytes the capture already has: nothing here
// fetches anything.
package extract

import (
	"bytes"
	"errors"
	"net/url"
	"strings"

	"codeberg.org/readeck/go-readability/v2"
	htmltomarkdown "github.com/JohannesKaufmann/html-to-markdown/v2"
	"github.com/JohannesKaufmann/html-to-markdown/v2/converter"
)

// ErrNoContent means readability found no main content in the page.
var ErrNoContent = errors.New("the page has no main content to extract")

// Markdown is the page's main content as Markdown, under its title.
func Markdown(page []byte, pageURL string) ([]byte, error) {
	a, err := article(page, pageURL)
	if err != nil {
		return nil, err
	}
	var content bytes.Buffer
	if err := a.RenderHTML(&content); err != nil {
		return nil, err
	}
	md, err := htmltomarkdown.ConvertString(content.String())
	if err != nil {
		return nil, err
	}
	md = strings.TrimSpace(md)
	if t := strings.TrimSpace(a.Title()); t != "" && !strings.HasPrefix(md, "# ") {
		md = "# " + t + "\n\n" + md
	}
	return []byte(md + "\n"), nil
}

// FullMarkdown is the whole rendered page as Markdown (markdown_mode full):
// navigation, footers and all, links and images resolved against the page.
func FullMarkdown(page []byte, pageURL string) ([]byte, error) {
	var opts []converter.ConvertOptionFunc
	if u, err := url.Parse(pageURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		opts = append(opts, converter.WithDomain(u.Scheme+"://"+u.Host))
	}
	md, err := htmltomarkdown.ConvertReader(bytes.NewReader(page), opts...)
	if err != nil {
		return nil, err
	}
	return append(bytes.TrimSpace(md), '\n'), nil
}

// Text is the page's main content as plain text, under its title.
func Text(page []byte, pageURL string) ([]byte, error) {
	a, err := article(page, pageURL)
	if err != nil {
		return nil, err
	}
	var text bytes.Buffer
	if err := a.RenderText(&text); err != nil {
		return nil, err
	}
	out := strings.TrimSpace(text.String())
	if t := strings.TrimSpace(a.Title()); t != "" {
		out = t + "\n\n" + out
	}
	return []byte(out + "\n"), nil
}

func article(page []byte, pageURL string) (readability.Article, error) {
	u, err := url.Parse(pageURL)
	if err != nil || u.Scheme == "" {
		u = &url.URL{Scheme: "https", Host: "render.invalid", Path: "/"}
	}
	a, err := readability.FromReader(bytes.NewReader(page), u)
	if err != nil {
		return a, err
	}
	if a.Node == nil {
		return a, ErrNoContent
	}
	return a, nil
}
