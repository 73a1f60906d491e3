import { PASSWORD_MAX_UTF16_LENGTH, type RuleViolation } from '../../core/registration-rules.js';
import { html } from './html.js';
import { layout } from './layout.js';

export interface RegisterPage {
  csrfToken: string;
  /** The interaction to return to after registering, when registration started from a sign-in page. */
  interactionUid?: string | undefined;
  username?: string;
  email?: string;
  violations?: RuleViolation[];
}

function fieldErrors(violations: RuleViolation[], field: RuleViolation['field']) {
  return violations
    .filter((violation) => violation.field === field)
    .map((violation) => html`<p class="error" id="${field}-error">${violation.message}</p>`);
}

/** Renders the account registration form, with one message per broken rule under its field. */
export function renderRegisterPage(page: RegisterPage): string {
  const violations = page.violations ?? [];
  const returnField =
    page.interactionUid === undefined ? html`` : html`<input type="hidden" name="interaction" value="${page.interactionUid}">`;

  const content = html`<form method="post" action="/register">
<input type="hidden" name="_csrf" value="${page.csrfToken}">
${returnField}
<label for="username">Username</label>
<input id="username" name="username" type="text" required minlength="3" maxlength="30" pattern="[A-Za-z0-9_]{3,30}" autocomplete="username" value="${page.username ?? ''}">
<p class="hint">3 to 30 letters, digits or underscores.</p>
${fieldErrors(violations, 'username')}
<label for="email">Email</label>
<input id="email" name="email" type="email" required maxlength="255" autocomplete="email" value="${page.email ?? ''}">
${fieldErrors(violations, 'email')}
<label for="password">Password</label>
<input id="password" name="password" type="password" required minlength="12" maxlength="${PASSWORD_MAX_UTF16_LENGTH}" autocomplete="new-password">
<p class="hint">At least 12 characters with an upper-case letter, a lower-case letter and a digit.</p>
${fieldErrors(violations, 'password')}
<div class="actions"><button type="submit">Create account</button></div>
</form>`;

  return layout('Create an account', content);
}

/** Renders the confirmation shown after registering outside an authorization request. */
export function renderRegisteredPage(username: string): string {
  return layout(
    'Account created',
    html`<p class="success" role="status">The account <strong>${username}</strong> is ready. Sign in from the application you came from.</p>`,
  );
}
