import { describe, expect, it } from 'vitest';

import { ProblemError, checkOwnership, requireOwned, type Identity } from '../../src/library/index.js';

interface Note {
  id: string;
  owner: string;
}

const NOTES = new Map<string, Note>([['n1', { id: 'n1', owner: 'alice' }]]);
const alice: Identity = { subject: 'alice', scopes: [], roles: [], clientId: 'app', credential: 'jwt' };
const bob: Identity = { ...alice, subject: 'bob' };

describe('ownership helper', () => {
  it('returns the owned resource', async () => {
    const result = await checkOwnership(alice, () => NOTES.get('n1'), (note) => note.owner);

    expect(result).toEqual({ outcome: 'owned', resource: { id: 'n1', owner: 'alice' } });
  });

  it('hides foreign and missing alike', async () => {
    const foreign = await checkOwnership(bob, () => NOTES.get('n1'), (note) => note.owner);
    const missing = await checkOwnership(bob, async () => NOTES.get('n2'), (note) => note.owner);

    expect(foreign).toEqual({ outcome: 'not_found' });
    expect(missing).toEqual({ outcome: 'not_found' });
  });

  it('throws the same 404 for both', async () => {
    const foreign = await requireOwned(bob, () => NOTES.get('n1'), (note) => note.owner, { resourceName: 'note', id: 'x' }).catch((error: unknown) => error);
    const missing = await requireOwned(bob, () => NOTES.get('n2'), (note) => note.owner, { resourceName: 'note', id: 'x' }).catch((error: unknown) => error);

    expect(foreign).toBeInstanceOf(ProblemError);
    expect(foreign).toMatchObject({ status: 404, code: 'not_found', detail: "No note with id 'x' exists." });
    expect(missing).toMatchObject({ status: 404, code: 'not_found', detail: "No note with id 'x' exists." });
  });
});
