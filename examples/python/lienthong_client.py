"""lienthong from Python: what an agency system written in Python does.

    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    .venv/bin/python lienthong_client.py --target localhost:50051 --certs ../../certs

It generates the Python code of the contract from ``proto/lienthong/v1`` (into a
temporary directory), then, over mutual TLS with the agencies' certificates:

1. looks a citizen up as the one-stop shop (H99.01), with the request context
   every lookup carries;
2. sends a lookup that breaks the contract and reads the error details as a
   program would: ``ErrorInfo`` (the stable reason), ``BadRequest`` (each field
   and what is wrong with it), ``RetryInfo`` (when to try again, on refusals that
   pass);
3. submits a dossier and reads its sync state toward the national portal;
4. asks the audit log, as the inspectorate (H99.90), who read that citizen's data.

Each step prints one line that starts with its name, for people and for the test
that runs this file (integration-tests/tests/examples.rs).
"""

import argparse
import datetime
import importlib
import pathlib
import sys
import tempfile

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from grpc_tools import protoc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"


def generate(into):
    """Generates the contract's Python modules into ``into`` and imports them."""
    import grpc_tools

    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.glob("lienthong/v1/*.proto"))
    code = protoc.main(
        ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}"]
        + [f"--python_out={into}", f"--grpc_python_out={into}"]
        + files
    )
    if code != 0:
        sys.exit(f"protoc failed ({code})")
    sys.path.insert(0, str(into))
    names = ["common", "identity", "residency", "dossier", "audit"]
    return {
        n: (importlib.import_module(f"lienthong.v1.{n}_pb2"), importlib.import_module(f"lienthong.v1.{n}_pb2_grpc"))
        for n in names
    }


def channel(target, certs, agency):
    """A channel to the gateway as ``agency``, with its certificate and key."""
    certs = pathlib.Path(certs)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.crt").read_bytes(),
        private_key=(certs / "clients" / f"{agency}.key").read_bytes(),
        certificate_chain=(certs / "clients" / f"{agency}.crt").read_bytes(),
    )
    return grpc.secure_channel(target, credentials)


def details(error):
    """The error details of a failed call, as (ErrorInfo, BadRequest, RetryInfo)."""
    kinds = (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo)
    found = {}
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        for kind in kinds:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind] = message
    return tuple(found.get(kind) for kind in kinds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--certs", default="certs")
    parser.add_argument("--personal-id", default="001085012345")
    parser.add_argument("--dossier-code", help="default: H99.01-<today>-9001")
    parser.add_argument("--unreachable-id", help="a citizen to look up while the register is down")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as generated:
        pb = generate(generated)
        common, _ = pb["common"]
        identity, identity_grpc = pb["identity"]
        dossier, dossier_grpc = pb["dossier"]
        audit, audit_grpc = pb["audit"]
        context = common.RequestContext(purpose="dossier-processing", legal_basis="ND-47/2020", officer_id="cb-0001")

        # 1. A lookup.
        shop = channel(args.target, args.certs, "H99.01")
        lookups = identity_grpc.IdentityServiceStub(shop)
        citizen, call = lookups.GetCitizen.with_call(
            identity.GetCitizenRequest(personal_id=args.personal_id, context=context), timeout=10
        )
        request_id = dict(call.initial_metadata()).get("x-request-id", "")
        print(f"lookup: {citizen.full_name} (born {citizen.birth_date}) request {request_id}")

        # 2. A lookup that breaks the contract, and one the policy refuses: what
        #    is wrong, field by field, and the stable reason a program branches on.
        try:
            lookups.GetCitizen(identity.GetCitizenRequest(personal_id="0010850123", context=common.RequestContext()), timeout=10)
            sys.exit("error: an invalid lookup was answered")
        except grpc.RpcError as error:
            _, bad, _ = details(error)
            fields = "; ".join(f"{v.field}: {v.description}" for v in (bad.field_violations if bad else []))
            print(f"invalid: {error.code().name}; {fields}")
        residency, residency_grpc = pb["residency"]
        department = residency_grpc.ResidencyServiceStub(channel(args.target, args.certs, "H99.02"))
        try:
            department.GetResidence(residency.GetResidenceRequest(personal_id=args.personal_id, context=context), timeout=10)
            sys.exit("error: a refused lookup was answered")
        except grpc.RpcError as error:
            info, _, _ = details(error)
            print(f"denied: {error.code().name} reason {info.reason if info else '?'} ({error.details()})")
        # A refusal that passes (the register unreachable, a rate limit) says when
        # to try again; a program waits that long.
        if args.unreachable_id:
            try:
                lookups.GetCitizen(
                    identity.GetCitizenRequest(personal_id=args.unreachable_id, context=context), timeout=10
                )
                print("retry: answered")
            except grpc.RpcError as error:
                info, _, retry = details(error)
                wait = f"{retry.retry_delay.seconds} s" if retry else "not said"
                print(f"retry: {error.code().name} reason {info.reason if info else '?'}, again after {wait}")

        # 3. A dossier, and its sync state toward the portal.
        now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=7)))
        code = args.dossier_code or f"H99.01-{now:%y%m%d}-9001"
        received = dossier.Dossier(
            dossier_code=code,
            procedure_code="1.001193",
            procedure_name="Đăng ký khai sinh",
            agency_code="H99.01",
            applicant_name="Ngô Anh Đạt",
            applicant_personal_id=args.personal_id,
            channel=dossier.CHANNEL_IN_PERSON,
            status=dossier.DOSSIER_STATUS_REGISTERED,
        )
        received.received_at.FromDatetime(now.astimezone(datetime.timezone.utc))
        dossiers = dossier_grpc.DossierServiceStub(shop)
        stored = dossiers.SubmitDossier(dossier.SubmitDossierRequest(dossier=received), timeout=10)
        sync = dossier.SyncStatus.Name(stored.sync.status)
        print(f"dossier: {stored.dossier_code} revision {stored.revision} sync {sync}")

        # 4. Who read this citizen's data, as the inspectorate.
        inspectorate = audit_grpc.AuditServiceStub(channel(args.target, args.certs, "H99.90"))
        records = list(inspectorate.QueryAudit(audit.QueryAuditRequest(subject_personal_id=args.personal_id), timeout=10))
        readers = sorted({f"{r.agency_code} {r.operation} {audit.Decision.Name(r.decision)}" for r in records})
        print(f"audit: {len(records)} records; " + "; ".join(readers))


if __name__ == "__main__":
    main()
