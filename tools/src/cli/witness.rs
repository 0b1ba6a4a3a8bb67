//! `lienthong witness`: an independent witness of a gateway's audit log, run by
//! another party (the inspectorate, a neighbouring province). Given the log's
//! public key (its origin follows from it), each round it fetches the latest
//! checkpoint, checks the log's signatures, and asks for the consistency proof
//! from the last tree it cosigned. Only a checkpoint that extends that tree is
//! cosigned (C2SP `tlog-cosignature`), after the witness has kept it durably.
//! Anything else — a smaller tree, another root at the same size, a tree that
//! does not extend the one cosigned — is refused: both checkpoints (and the
//! proof) are kept as evidence, the refusal is logged and counted, and the
//! command exits with status 3. The first checkpoint seen is trusted as is.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use lienthong_gateway::audit::signed_note::{Signer, TreeHead};
use lienthong_gateway::audit::{checkpoint, hex, unhex};
use lienthong_ledger::merkle;
use lienthong_proto::v1::witness_service_client::WitnessServiceClient;
use lienthong_proto::v1::{
    AddCosignatureRequest, Checkpoint, GetCheckpointRequest, GetConsistencyProofRequest,
};

use crate::client::{Connect, explain};

mod files;
use files::{Dir, State};

/// `witness` subcommands.
#[derive(Debug, Subcommand)]
pub enum Witness {
    /// Make the witness's key in --dir and print its verifier key, for the
    /// gateway's `audit.witnesses`.
    Init {
        /// The witness's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The witness's name, unique among the log's witnesses (e.g.
        /// `thanhtra.h99.gov.vn/witness`).
        #[arg(long)]
        name: String,
    },
    /// Check the log's latest checkpoint and cosign it if it extends the last
    /// one cosigned: every --every, or --once.
    Run(Run),
}

/// `witness run`'s arguments.
#[derive(Debug, Args)]
pub struct Run {
    /// The gateway.
    #[command(flatten)]
    pub connect: Connect,
    /// The agency to call as (it needs the role `witness`).
    #[arg(long, default_value = "H99.90")]
    pub agency: String,
    /// The witness's directory (`witness init`).
    #[arg(long)]
    pub dir: PathBuf,
    /// The log's public key, from its operator: `audit-signing.pub` (PEM) or 64
    /// hex digits.
    #[arg(long)]
    pub log_key: PathBuf,
    /// One round, then exit.
    #[arg(long)]
    pub once: bool,
    /// Time between rounds.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub every: Duration,
}

/// What a round did.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// Cosigned the tree of this size.
    Cosigned(u64),
    /// Nothing new since the tree of this size.
    Unchanged(u64),
    /// Refused: why, and where the evidence is.
    Refused(String, PathBuf),
}

/// Runs a `witness` subcommand: the exit status (0 fine, 3 refused).
pub async fn run(command: &Witness, out: &mut impl Write) -> Result<i32, String> {
    let io = |e: std::io::Error| e.to_string();
    match command {
        Witness::Init { dir, name } => {
            let dir = Dir(dir.clone());
            if dir.key().exists() {
                return Err(format!(
                    "{} exists: this witness has a key",
                    dir.key().display()
                ));
            }
            let (signer, private) = Signer::generate(name, true).map_err(|e| e.to_string())?;
            files::replace(&dir.key(), format!("{private}\n").as_bytes(), true)?;
            let vkey = signer.verifier().encode();
            files::replace(&dir.vkey(), format!("{vkey}\n").as_bytes(), false)?;
            writeln!(out, "{vkey}").map_err(io)?;
            Ok(0)
        }
        Witness::Run(r) => loop {
            match round(r).await {
                Ok(Round::Refused(why, evidence)) => {
                    eprintln!(
                        "lienthong witness: REFUSED: {why}; evidence kept in {}",
                        evidence.display()
                    );
                    writeln!(out, "refused: {why}").map_err(io)?;
                    return Ok(3);
                }
                Ok(done) => {
                    match done {
                        Round::Cosigned(n) => writeln!(out, "cosigned the tree of {n} records"),
                        _ => writeln!(out, "unchanged: {done:?}"),
                    }
                    .map_err(io)?;
                    if r.once {
                        return Ok(0);
                    }
                }
                Err(e) if r.once => return Err(e),
                Err(e) => eprintln!("lienthong witness: {e}; trying again in {:?}", r.every),
            }
            tokio::time::sleep(r.every).await;
        },
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The note's text (what the log signed, without signature lines).
fn text(note: &str) -> &str {
    note.find("\n\n").map_or(note, |end| &note[..end + 1])
}

/// One round against the gateway.
pub async fn round(r: &Run) -> Result<Round, String> {
    let dir = Dir(r.dir.clone());
    let private = std::fs::read_to_string(dir.key()).map_err(|e| {
        format!(
            "{}: {e} (run `lienthong witness init`)",
            dir.key().display()
        )
    })?;
    let signer =
        Signer::parse(private.trim()).map_err(|e| format!("{}: {e}", dir.key().display()))?;
    let log_key = checkpoint::load_public_key(&r.log_key).map_err(|e| e.to_string())?;
    let mut client = WitnessServiceClient::new(r.connect.channel(&r.agency)?);
    let shown = client
        .get_checkpoint(GetCheckpointRequest { tree_size: 0 })
        .await
        .map_err(explain)?
        .into_inner();
    checkpoint::verify(&shown, &log_key)
        .map_err(|e| format!("the checkpoint is not the log's: {e}"))?;
    let head =
        checkpoint::tree_head(&shown, &log_key)?.ok_or("the checkpoint has no Merkle tree head")?;
    let mut state = dir.state(&head.origin)?;
    let refuse = |state: &mut State, kind: &str, why: String, proof: Vec<String>| {
        state.refusals += 1;
        let evidence = dir.evidence(
            kind,
            &serde_json::json!({
                "kind": kind,
                "detail": why,
                "origin": head.origin,
                "cosigned": state,
                "shown": {"seq": shown.seq, "root": hex(&shown.root), "note": shown.note},
                "proof": proof,
            }),
        )?;
        dir.save(state)?;
        dir.metrics(state)?;
        Ok::<Round, String>(Round::Refused(why, evidence))
    };
    if let Some(s) = &mut state {
        let root = unhex(&s.root)
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or("the state's root is not a hash")?;
        if head.size < s.size {
            let why = format!(
                "the log shows a tree of {} records after this witness cosigned {}",
                head.size, s.size
            );
            return refuse(s, "rollback", why, Vec::new());
        }
        if head.size == s.size {
            if head.root != root {
                let why = format!(
                    "split view: two different trees of {} records are signed by the log's key",
                    head.size
                );
                return refuse(s, "split-view", why, Vec::new());
            }
            if !cosigned_by(&shown, &signer) {
                submit(&mut client, &signer, &shown, &head).await?;
            }
            return Ok(Round::Unchanged(head.size));
        }
        let proof = client
            .get_consistency_proof(GetConsistencyProofRequest {
                first_size: s.size,
                second_size: head.size,
            })
            .await
            .map_err(explain)?
            .into_inner();
        let hashes: Vec<merkle::Hash> = proof
            .hashes
            .iter()
            .map(|h| {
                merkle::Hash::try_from(h.as_slice())
                    .map_err(|_| "a proof hash is not 32 bytes".to_owned())
            })
            .collect::<Result<_, _>>()?;
        let checked = match proof.second_size == head.size {
            true => merkle::verify_consistency(s.size, head.size, &root, &head.root, &hashes)
                .map_err(|e| e.to_string()),
            false => Err("a proof for another size".to_owned()),
        };
        if let Err(e) = checked {
            let why = format!(
                "split view: the tree of {} records does not extend the tree of {} this witness cosigned ({e})",
                head.size, s.size
            );
            let proof = proof.hashes.iter().map(|h| hex(h)).collect();
            return refuse(s, "inconsistent", why, proof);
        }
    }
    let next = State {
        origin: head.origin.clone(),
        size: head.size,
        root: hex(&head.root),
        note: as_signed(&shown.note, &head.origin),
        cosigned_at: now(),
        refusals: state.map_or(0, |s| s.refusals),
    };
    // Kept before the cosignature leaves: a witness never cosigns a tree it
    // could forget.
    dir.save(&next)?;
    dir.metrics(&next)?;
    submit(&mut client, &signer, &shown, &head).await?;
    Ok(Round::Cosigned(head.size))
}

/// The note as the log signed it: its text and the log's own signature line,
/// without the cosignatures.
fn as_signed(note: &str, origin: &str) -> String {
    let text = text(note);
    let own = format!("— {origin} ");
    let lines: String = note[text.len()..]
        .lines()
        .filter(|l| l.starts_with(&own))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{text}\n{lines}")
}

/// Whether `shown` already carries this witness's cosignature.
fn cosigned_by(shown: &Checkpoint, signer: &Signer) -> bool {
    lienthong_gateway::audit::signed_note::Note::parse(&shown.note)
        .is_ok_and(|note| note.verify(signer.verifier()).is_ok())
}

/// Cosigns `head` and hands the cosignature to the gateway.
async fn submit(
    client: &mut WitnessServiceClient<tonic::transport::Channel>,
    signer: &Signer,
    shown: &Checkpoint,
    head: &TreeHead,
) -> Result<(), String> {
    let line = signer.line(text(&shown.note), now());
    client
        .add_cosignature(AddCosignatureRequest {
            tree_size: head.size,
            cosignature: line.trim_end().to_owned(),
        })
        .await
        .map_err(explain)?;
    Ok(())
}
