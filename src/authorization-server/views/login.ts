import { PASSWORD_MAX_UTF16_LENGTH } from '../../core/registration-rules.js';
import { html } from './html.js';
import { layout } from './layout.js';

export interface LoginPage {
  uid: string;
  clientName: string;
  csrfToken: string;
  username?: string;
  failed?: boolean;
  registered?: boolean;
  /** Set when sign-in is paused after too many failures. */
  retryAfterSeconds?: number | undefined;
  /** Whether to link to the registration page. */
  registration: boolean;
}

/** Renders the sign-in form of an authorization request. */
export function renderLoginPage(page: LoginPage): string {
  const notice = page.retryAfterSeconds !== undefined
    ? html`<p class="notice" role="alert">Too many failed sign-ins. Try again in ${page.retryAfterSeconds} seconds.</p>`
    : page.failed
    ? html`<p class="notice" role="alert">Invalid username or password.</p>`
    : page.registered
      ? html`<p class="success" role="status">Account created. Sign in to continue.</p>`
      : html``;

  const content = html`<p><strong>${page.clientName}</strong> asks you to sign in.</p>
${notice}
<form method="post" action="/interaction/${page.uid}/login" autocomplete="on">
<input type="hidden" name="_csrf" value="${page.csrfToken}">
<label for="username">Username</label>
<input id="username" name="username" type="text" required maxlength="30" autocomplete="username" value="${page.username ?? ''}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" required maxlength="${PASSWORD_MAX_UTF16_LENGTH}" autocomplete="current-password">
<div class="actions"><button type="submit">Sign in</button></div>
</form>
<form method="post" action="/interaction/${page.uid}/abort">
<input type="hidden" name="_csrf" value="${page.csrfToken}">
<button type="submit" class="secondary">Cancel</button>
</form>
${page.registration ? html`<p class="hint">No account? <a href="/register?interaction=${page.uid}">Create one</a>.</p>` : html``}`;

  return layout('Sign in', content);
}
