//! `lienthong audit prove`: the proof that one record is in the log as a signed
//! checkpoint has it, or that the latest checkpoint extends an earlier tree — as
//! text, or as the JSON document that `audit verify --proof` and
//! `docs/verify_proof.py` check from the document alone.

use std::io::Write;

use clap::Args;
use lienthong_gateway::audit::prove::{self, Document};
use lienthong_proto::v1::{ProveConsistencyRequest, ProveInclusionRequest};

use super::Source;
use crate::client::explain;

/// `audit prove`'s arguments.
#[derive(Debug, Args)]
pub struct Prove {
    /// Where the log is.
    #[command(flatten)]
    pub source: Source,
    /// The record to prove.
    #[arg(long, required_unless_present = "extends", conflicts_with = "extends")]
    pub seq: Option<u64>,
    /// Prove instead that the checkpoint extends the tree of this many records.
    #[arg(long)]
    pub extends: Option<u64>,
    /// The tree size of the signed checkpoint to prove in (0: the latest).
    #[arg(long, default_value_t = 0)]
    pub tree_size: u64,
    /// The JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `audit prove`.
pub async fn run(p: &Prove, out: &mut impl Write) -> Result<bool, String> {
    let document = match (p.seq, p.source.store().await?) {
        (Some(seq), Some(store)) => Document::inclusion(
            prove::inclusion(&*store, seq, p.tree_size)
                .await
                .map_err(|e| e.to_string())?,
        ),
        (Some(seq), None) => Document::inclusion(
            p.source
                .client()?
                .prove_inclusion(ProveInclusionRequest {
                    seq,
                    tree_size: p.tree_size,
                })
                .await
                .map_err(explain)?
                .into_inner(),
        ),
        (None, store) => {
            let first = p.extends.ok_or("--seq or --extends is required")?;
            Document::consistency(match store {
                Some(store) => prove::consistency(&*store, first, p.tree_size)
                    .await
                    .map_err(|e| e.to_string())?,
                None => p
                    .source
                    .client()?
                    .prove_consistency(ProveConsistencyRequest {
                        first_size: first,
                        second_size: p.tree_size,
                    })
                    .await
                    .map_err(explain)?
                    .into_inner(),
            })
        }
    };
    let io = |e: std::io::Error| e.to_string();
    if p.json {
        let text = serde_json::to_string_pretty(&document).expect("plain data serializes");
        writeln!(out, "{text}").map_err(io)?;
        return Ok(true);
    }
    match &document {
        Document::Inclusion {
            seq,
            leaf_index,
            tree_size,
            record_hash,
            leaf_hash,
            hashes,
            checkpoint,
            ..
        } => {
            writeln!(
                out,
                "record {seq} in the signed tree of {tree_size} records"
            )
            .map_err(io)?;
            writeln!(out, "  leaf index   {leaf_index}").map_err(io)?;
            writeln!(out, "  record hash  {record_hash}").map_err(io)?;
            writeln!(out, "  leaf hash    {leaf_hash}").map_err(io)?;
            lines(out, hashes, checkpoint).map_err(io)?;
        }
        Document::Consistency {
            first_size,
            second_size,
            hashes,
            second,
            ..
        } => {
            writeln!(
                out,
                "the signed tree of {second_size} records extends the tree of {first_size}"
            )
            .map_err(io)?;
            lines(out, hashes, second).map_err(io)?;
        }
    }
    writeln!(
        out,
        "check it with `lienthong audit verify --proof FILE` (from --json)"
    )
    .map_err(io)?;
    Ok(true)
}

/// The proof's hashes and the checkpoint's root and note.
fn lines(
    out: &mut impl Write,
    hashes: &[String],
    checkpoint: &serde_json::Value,
) -> std::io::Result<()> {
    writeln!(
        out,
        "  proof        {} hashes, innermost first",
        hashes.len()
    )?;
    for (i, h) in hashes.iter().enumerate() {
        writeln!(out, "    {i:>2}  {h}")?;
    }
    let field = |name: &str| checkpoint[name].as_str().unwrap_or_default().to_owned();
    writeln!(out, "  root         {}", field("root"))?;
    writeln!(out, "  signed at    {}", field("at"))?;
    writeln!(out, "  checkpoint note:")?;
    for line in field("note").lines() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}
