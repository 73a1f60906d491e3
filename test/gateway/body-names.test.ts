import { describe, expect, it } from 'vitest';

import { bodyMemberNames } from '../../src/gateway/body-names.js';

describe('body member names', () => {
  it('reads form field names', () => {
    expect(bodyMemberNames('application/x-www-form-urlencoded', Buffer.from('displayName=x&user%49d=bob&tags[]=a'))).toEqual(['displayName', 'userId', 'tags[]']);
  });

  it('reads top-level JSON member names', () => {
    expect(bodyMemberNames('application/json; charset=utf-8', Buffer.from('{"displayName":"x","user\\u0049d":"bob","nested":{"tenantId":"t3"}}'))).toEqual([
      'displayName',
      'userId',
      'nested',
    ]);
    expect(bodyMemberNames('application/merge-patch+json', Buffer.from('{"userId":null}'))).toEqual(['userId']);
    expect(bodyMemberNames('text/json', Buffer.from('{"userId":"bob"}'))).toEqual(['userId']);
  });

  it('reads no names from JSON that is not an object', () => {
    expect(bodyMemberNames('application/json', Buffer.from('["userId"]'))).toEqual([]);
    expect(bodyMemberNames('application/json', Buffer.from('"userId"'))).toEqual([]);
  });

  it('reads every word of JSON that does not parse', () => {
    // Lenient parsers such as Json.NET accept single quotes and comments.
    expect(bodyMemberNames('application/json', Buffer.from("{'userId': 'bob', /* note */}"))).toEqual(['userId', 'bob', 'note']);
  });

  it('reads multipart field names', () => {
    const body = [
      '--b',
      'Content-Disposition: form-data; name="displayName"',
      '',
      'x',
      '--b',
      'content-disposition: form-data; name=userId',
      '',
      'bob',
      '--b',
      'Content-Disposition: form-data; name="avatar"; filename="a.png"',
      '',
      'png',
      '--b--',
    ].join('\r\n');
    expect(bodyMemberNames('multipart/form-data; boundary=b', Buffer.from(body))).toEqual(['displayName', 'userId', 'avatar']);
  });

  it('reads JSON named in a parameter both ways', () => {
    expect(bodyMemberNames('application/x-www-form-urlencoded; x=/json', Buffer.from('{"userId":"bob"}'))).toEqual(['{"userId":"bob"}', 'userId']);
    expect(bodyMemberNames('text/plain; x=a+json', Buffer.from('{"userId":"bob"}'))).toEqual(['userId']);
  });

  it('reads a very long list of names', () => {
    expect(bodyMemberNames('application/x-www-form-urlencoded', Buffer.from('a=1&'.repeat(300_000)))).toHaveLength(300_000);
    expect(bodyMemberNames('application/json', Buffer.from(`{${"'a' ".repeat(300_000)}`))).toHaveLength(300_000);
  });

  it('reads no names from other media types', () => {
    expect(bodyMemberNames('text/plain', Buffer.from('userId=bob'))).toEqual([]);
    expect(bodyMemberNames(undefined, Buffer.from('userId=bob'))).toEqual([]);
    expect(bodyMemberNames('application/octet-stream', Buffer.from('{"userId":"bob"}'))).toEqual([]);
  });
});
