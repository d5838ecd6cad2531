// A second, independent OAuth client: openid-client discovers the server from
// its RFC 8414 metadata and gets, introspects and revokes a token for a
// credential made through the UI; jose verifies the token against the JWKS.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as client from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";

import { openBrowser, openCredentials, signIn, useKeyward } from "../lib/browser.mjs";
import { createCredential } from "../lib/steps.mjs";

const setup = useKeyward();

test("openid-client and jose use a credential made in the browser", async () => {
  const browser = await openBrowser(setup.server.base);
  let credential;
  try {
    await signIn(browser.page, setup.server.base, "owner@acme.test");
    await openCredentials(browser.page);
    credential = await createCredential(browser.page, "Node integration");
  } finally {
    await browser.close();
  }

  const issuer = new URL(setup.server.base);
  const config = await client.discovery(issuer, credential.clientId, credential.secret, undefined, {
    algorithm: "oauth2", // RFC 8414: /.well-known/oauth-authorization-server
    execute: [client.allowInsecureRequests], // plain HTTP on loopback, in this test only
  });
  const metadata = config.serverMetadata();
  assert.equal(metadata.issuer, setup.server.base);
  assert.ok(metadata.grant_types_supported.includes("client_credentials"));

  const tokens = await client.clientCredentialsGrant(config, { scope: "audit:read:org" });
  assert.equal(tokens.token_type.toLowerCase(), "bearer");
  assert.equal(tokens.expires_in, 3600);
  assert.equal(tokens.scope, "audit:read:org");

  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
    typ: "at+jwt",
    issuer: setup.server.base,
    audience: "https://api.keyward.test",
  });
  assert.equal(protectedHeader.alg, "EdDSA");
  assert.equal(payload.client_id, credential.clientId);
  assert.equal(payload.sub, credential.clientId);
  assert.equal(payload.exp - payload.iat, 3600);

  const active = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, credential.clientId);

  await client.tokenRevocation(config, tokens.access_token);
  const revoked = await client.tokenIntrospection(config, tokens.access_token);
  assert.deepEqual(revoked, { active: false });

  // A wrong secret is refused the way RFC 6749 says.
  const wrong = await client.discovery(issuer, credential.clientId, `${credential.secret.slice(0, -6)}AAAAAA`, undefined, {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
  });
  // openid-client surfaces the 401's WWW-Authenticate challenge; the body is RFC 6749's.
  const refusal = await client.clientCredentialsGrant(wrong).then(
    () => assert.fail("a wrong secret got a token"),
    (error) => error,
  );
  assert.equal(refusal.code, "OAUTH_WWW_AUTHENTICATE_CHALLENGE");
  assert.equal(refusal.status, 401);
  assert.equal(refusal.cause[0].scheme, "basic");
  assert.equal((await refusal.response.json()).error, "invalid_client");
});
