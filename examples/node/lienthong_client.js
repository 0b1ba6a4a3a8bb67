// lienthong from Node.js: what an agency system written in JavaScript does.
//
//     npm install
//     node lienthong_client.js --target localhost:50051 --certs ../../certs
//
// It loads the contract from proto/lienthong/v1 at run time (@grpc/proto-loader),
// then, over mutual TLS with the agencies' certificates:
//
// 1. looks a citizen up as the one-stop shop (H99.01), with the request context
//    every lookup carries;
// 2. sends a lookup that breaks the contract, and one the policy refuses, and
//    reads the error details as a program would: BadRequest (each field and what
//    is wrong with it), ErrorInfo (the stable reason), RetryInfo (when to try
//    again, on refusals that pass);
// 3. submits a dossier and reads its sync state toward the national portal;
// 4. asks the audit log, as the inspectorate (H99.90), who read that citizen's data.
//
// Each step prints one line that starts with its name, for people and for the
// test that runs this file (integration-tests/tests/examples.rs).

'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const googleProtos = require('google-proto-files');

const PROTO_ROOT = path.resolve(__dirname, '../../proto');

function args() {
  const out = {
    target: 'localhost:50051',
    certs: 'certs',
    personalId: '001085012345',
    dossierCode: '',
    unreachableId: '',
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in out)) throw new Error(`unknown option ${argv[i]}`);
    out[key] = argv[i + 1];
  }
  return out;
}

// The contract, loaded from the .proto files.
function contract() {
  const files = fs
    .readdirSync(path.join(PROTO_ROOT, 'lienthong/v1'))
    .filter((f) => f.endsWith('.proto'))
    .map((f) => `lienthong/v1/${f}`);
  const definition = protoLoader.loadSync(files, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).lienthong.v1;
}

// google.rpc.Status and the error details, to read `grpc-status-details-bin`.
function errorTypes() {
  const root = new protobuf.Root();
  const googleDir = path.dirname(googleProtos.getProtoPath('rpc'));
  root.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(googleDir, '..', target));
  root.loadSync([googleProtos.getProtoPath('rpc', 'status.proto'), googleProtos.getProtoPath('rpc', 'error_details.proto')], {
    keepCase: true,
  });
  return root;
}

// The error details of a failed call: { ErrorInfo, BadRequest, RetryInfo }.
function details(error, types) {
  const found = {};
  const bytes = error.metadata && error.metadata.get('grpc-status-details-bin')[0];
  if (!bytes) return found;
  const status = types.lookupType('google.rpc.Status').decode(bytes);
  for (const any of status.details) {
    const name = any.type_url.split('/').pop();
    for (const kind of ['ErrorInfo', 'BadRequest', 'RetryInfo']) {
      if (name === `google.rpc.${kind}`) found[kind] = types.lookupType(name).decode(any.value);
    }
  }
  return found;
}

function credentials(certs, agency) {
  const read = (...p) => fs.readFileSync(path.join(certs, ...p));
  return grpc.credentials.createSsl(
    read('ca.crt'),
    read('clients', `${agency}.key`),
    read('clients', `${agency}.crt`),
  );
}

// A unary call as a promise, with the response's metadata.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    let metadata = new grpc.Metadata();
    const deadline = new Date(Date.now() + 10000);
    const c = client[method](request, new grpc.Metadata(), { deadline }, (error, response) =>
      error ? reject(error) : resolve({ response, metadata }),
    );
    c.on('metadata', (m) => {
      metadata = m;
    });
  });
}

async function expectRefusal(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('a call that should be refused was answered');
}

async function main() {
  const a = args();
  const v1 = contract();
  const types = errorTypes();
  const context = { purpose: 'dossier-processing', legal_basis: 'ND-47/2020', officer_id: 'cb-0001' };

  // 1. A lookup.
  const identity = new v1.IdentityService(a.target, credentials(a.certs, 'H99.01'));
  const { response: citizen, metadata } = await call(identity, 'GetCitizen', { personal_id: a.personalId, context });
  console.log(`lookup: ${citizen.full_name} (born ${citizen.birth_date}) request ${metadata.get('x-request-id')[0]}`);

  // 2. A lookup that breaks the contract, and one the policy refuses.
  const invalid = await expectRefusal(call(identity, 'GetCitizen', { personal_id: '0010850123', context: {} }));
  const bad = details(invalid, types).BadRequest;
  const fields = bad ? bad.field_violations.map((v) => `${v.field}: ${v.description}`).join('; ') : '';
  console.log(`invalid: ${grpc.status[invalid.code]}; ${fields}`);
  const residency = new v1.ResidencyService(a.target, credentials(a.certs, 'H99.02'));
  const denied = await expectRefusal(call(residency, 'GetResidence', { personal_id: a.personalId, context }));
  const { ErrorInfo: info } = details(denied, types);
  console.log(`denied: ${grpc.status[denied.code]} reason ${info ? info.reason : '?'} (${denied.details})`);
  // A refusal that passes (the register unreachable, a rate limit) says when to
  // try again; a program waits that long.
  if (a.unreachableId) {
    try {
      await call(identity, 'GetCitizen', { personal_id: a.unreachableId, context });
      console.log('retry: answered');
    } catch (error) {
      const { ErrorInfo: why, RetryInfo: retry } = details(error, types);
      const wait = retry ? `${retry.retry_delay.seconds} s` : 'not said';
      console.log(`retry: ${grpc.status[error.code]} reason ${why ? why.reason : '?'}, again after ${wait}`);
    }
  }

  // 3. A dossier, and its sync state toward the portal.
  const now = new Date();
  const vietnam = new Date(now.getTime() + 7 * 3600 * 1000).toISOString();
  const code = a.dossierCode || `H99.01-${vietnam.slice(2, 4)}${vietnam.slice(5, 7)}${vietnam.slice(8, 10)}-9101`;
  const dossiers = new v1.DossierService(a.target, credentials(a.certs, 'H99.01'));
  const { response: stored } = await call(dossiers, 'SubmitDossier', {
    dossier: {
      dossier_code: code,
      procedure_code: '1.001193',
      procedure_name: 'Đăng ký khai sinh',
      agency_code: 'H99.01',
      applicant_name: 'Ngô Anh Đạt',
      applicant_personal_id: a.personalId,
      channel: 'CHANNEL_IN_PERSON',
      status: 'DOSSIER_STATUS_REGISTERED',
      received_at: { seconds: Math.floor(now.getTime() / 1000), nanos: 0 },
    },
  });
  console.log(`dossier: ${stored.dossier_code} revision ${stored.revision} sync ${stored.sync.status}`);

  // 4. Who read this citizen's data, as the inspectorate.
  const audit = new v1.AuditService(a.target, credentials(a.certs, 'H99.90'));
  const records = await new Promise((resolve, reject) => {
    const out = [];
    const stream = audit.QueryAudit({ subject_personal_id: a.personalId }, { deadline: new Date(Date.now() + 10000) });
    stream.on('data', (r) => out.push(r));
    stream.on('end', () => resolve(out));
    stream.on('error', reject);
  });
  const readers = [...new Set(records.map((r) => `${r.agency_code} ${r.operation} ${r.decision}`))].sort();
  console.log(`audit: ${records.length} records; ${readers.join('; ')}`);
  for (const c of [identity, residency, dossiers, audit]) c.close();
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
