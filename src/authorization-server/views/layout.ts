import { html, type SafeHtml } from './html.js';

export const STYLESHEET_PATH = '/assets/portcullis.css';

/**
 * Content-Security-Policy of every server-rendered page: no script at all,
 * styles only from the stylesheet, forms only to this origin (plus the
 * client's origins where a page must redirect there after a form post).
 */
export function pageContentSecurityPolicy(extraFormActions: readonly string[] = []): string {
  const formAction = ["'self'", ...extraFormActions].join(' ');
  return [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self'",
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Wraps page content in the shared document shell. */
export function layout(title: string, content: SafeHtml): string {
  return html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Portcullis</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main class="card">
<h1>${title}</h1>
${content}
</main>
</body>
</html>
`.value;
}

export const STYLESHEET = `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;padding:3rem 1rem}
.card{max-width:26rem;margin:0 auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin-top:0}
label{display:block;font-weight:600;margin:1rem 0 .3rem}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #c3c8d2;border-radius:4px;font-size:1rem}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;background:#2458c6;color:#fff;cursor:pointer}
button.secondary{background:#e4e7ec;color:#1d2330}
.error{color:#a4161a;margin:.3rem 0 0}
.notice{background:#fdecea;border-left:4px solid #a4161a;padding:.6rem .8rem}
.success{background:#e8f5e9;border-left:4px solid #2e7d32;padding:.6rem .8rem}
ul.scopes{padding-left:1.2rem}
.actions{display:flex;gap:.6rem}
.hint{color:#5b6372;font-size:.9rem}
`;
