#!/usr/bin/env node
// Test-only helper: evaluates SCPs with @cloud-copilot/iam-simulate (see README.md).
// stdin:  {"policies":[{"name","document"}], "cases":[{"name","action","resource","account","principal","context"}]}
// stdout: {"results":[{"name","decision","detail"}]}, one result per case, in order.
// Exit 1 with a message on stderr on malformed input or any library error.
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const fail = (msg) => {
  process.stderr.write(`simulate.mjs: ${msg}\n`);
  process.exit(1);
};

// The library lives outside the repository: SPA_SCP_SIM_MODULES names the node_modules folder.
// Without it, ordinary resolution from this file (and NODE_PATH) is used.
const modules = process.env.SPA_SCP_SIM_MODULES;
const require = createRequire(modules ? join(resolve(modules), 'noop.js') : import.meta.url);
let sim;
try {
  sim = require('@cloud-copilot/iam-simulate');
} catch (e) {
  fail(`cannot load @cloud-copilot/iam-simulate (set SPA_SCP_SIM_MODULES to its node_modules folder): ${e.message}`);
}

const FULL_AWS_ACCESS = {
  name: 'FullAWSAccess',
  policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
};
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v, what) => {
  if (typeof v !== 'string' || v === '') fail(`${what} must be a non-empty string`);
  return v;
};

// Context values: strings or string arrays; booleans and numbers become strings.
const ctxValue = (v, key) => {
  if (Array.isArray(v)) return v.map((x) => ctxValue(x, key));
  if (['string', 'boolean', 'number'].includes(typeof v)) return String(v);
  fail(`context key ${key}: value must be a string, boolean, number or array of them`);
};

// One short explanation: the denying SCP statements, or keys the library dropped.
const detail = (res) => {
  const analyses = res.resultType === 'single' ? [res.result] : res.results;
  const parts = [];
  for (const r of analyses) {
    for (const d of sim.getDenialReasons(r.analysis)) {
      const stmt = d.denialType === 'Explicit' ? ` statement ${d.statementId ?? '#' + d.statementIndex}` : '';
      parts.push(`${d.denialType} deny by ${d.policyType} ${d.policyIdentifier ?? d.identifier ?? ''}${stmt}`.trim());
    }
    if (r.ignoredContextKeys?.length) parts.push(`ignored context keys: ${r.ignoredContextKeys.join(', ')}`);
  }
  if (res.resultType === 'wildcard') parts.push(`wildcard resource: ${res.results.length} pattern(s) evaluated`);
  return [...new Set(parts)].join('; ') || undefined;
};

async function main() {
  let input;
  try {
    input = JSON.parse(await new Response(process.stdin).text());
  } catch (e) {
    fail(`stdin is not valid JSON: ${e.message}`);
  }
  if (!isObj(input) || !Array.isArray(input.policies) || !Array.isArray(input.cases)) {
    fail('input must be an object with "policies" and "cases" arrays');
  }
  // Policy documents may be objects or (minified) JSON strings.
  const scps = input.policies.map((p, i) => {
    if (!isObj(p)) fail(`policies[${i}] must be an object`);
    let doc = p.document;
    if (typeof doc === 'string') {
      try {
        doc = JSON.parse(doc);
      } catch (e) {
        fail(`policies[${i}].document is not valid JSON: ${e.message}`);
      }
    }
    if (!isObj(doc)) fail(`policies[${i}].document must be a JSON object`);
    return { name: str(p.name, `policies[${i}].name`), policy: doc };
  });

  const results = [];
  for (const [i, c] of input.cases.entries()) {
    if (!isObj(c)) fail(`cases[${i}] must be an object`);
    const name = str(c.name, `cases[${i}].name`);
    const principal = str(c.principal, `case ${name}: principal`);
    const account = str(c.account, `case ${name}: account`);
    if (c.context !== undefined && !isObj(c.context)) fail(`case ${name}: context must be an object`);
    // aws:PrincipalArn / aws:PrincipalAccount default to the principal / account (case-insensitive keys).
    const context = {};
    const given = new Set(Object.keys(c.context ?? {}).map((k) => k.toLowerCase()));
    if (!given.has('aws:principalarn')) context['aws:PrincipalArn'] = principal;
    if (!given.has('aws:principalaccount')) context['aws:PrincipalAccount'] = account;
    for (const [k, v] of Object.entries(c.context ?? {})) context[k] = ctxValue(v, k);

    // Root and account carry FullAWSAccess only; the OU carries FullAWSAccess plus the given SCPs.
    // Identity policy allows everything, so only an SCP can deny.
    const simulation = {
      request: {
        principal,
        action: str(c.action, `case ${name}: action`),
        resource: { resource: c.resource ?? '*', accountId: account },
        contextVariables: context,
      },
      identityPolicies: [FULL_AWS_ACCESS],
      serviceControlPolicies: [
        { orgIdentifier: 'r-root', policies: [FULL_AWS_ACCESS] },
        { orgIdentifier: 'ou-root-spatest', policies: [FULL_AWS_ACCESS, ...scps] },
        { orgIdentifier: account, policies: [FULL_AWS_ACCESS] },
      ],
      resourceControlPolicies: [],
    };
    let res;
    try {
      res = await sim.runSimulation(simulation, {});
    } catch (e) {
      fail(`case ${name}: library threw: ${e?.stack ?? e}`);
    }
    if (res.resultType === 'error') {
      fail(`case ${name}: library rejected the simulation: ${JSON.stringify(res.errors)}`);
    }
    results.push({ name, decision: res.overallResult, detail: detail(res) });
  }
  process.stdout.write(JSON.stringify({ results }) + '\n');
}

main().catch((e) => fail(e?.stack ?? String(e)));
