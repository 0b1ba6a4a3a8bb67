//! The log's witnesses, as the gateway knows them: their verifier keys and how
//! many must cosign (`audit.witnesses`, `audit.witness_quorum`). A cosignature
//! is kept only when it verifies under the key of a configured witness, over the
//! checkpoint's note text (C2SP `tlog-cosignature`); a checkpoint is served with
//! the cosignature lines kept for it.

use lienthong_proto::v1::Checkpoint;

use super::signed_note::{Note, VerifierKey};

/// Longest cosignature line accepted.
const MAX_LINE: usize = 512;

/// The configured witnesses.
#[derive(Debug, Clone, Default)]
pub struct Witnesses {
    keys: Vec<VerifierKey>,
    quorum: usize,
    /// How far behind the latest checkpoint the newest cosigned one may fall.
    grace: std::time::Duration,
}

/// How the witnesses keep up with the log (in `/readyz`, the metrics and the
/// console).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Witnessed {
    /// Cosignatures a checkpoint needs.
    pub quorum: usize,
    /// The tree size of the newest checkpoint with that many (0: none yet).
    pub cosigned: u64,
    /// The tree size of the latest checkpoint.
    pub latest: u64,
    /// How long before the latest checkpoint the newest cosigned one was signed
    /// (since the gateway started, when none is), in seconds.
    pub lag_seconds: i64,
    /// Whether that is more than `audit.witness_grace`.
    pub lagging: bool,
}

impl Witnesses {
    /// From the verifier keys `keys` and the quorum (default: all of them). The
    /// error says which key is wrong.
    pub fn parse(keys: &[String], quorum: Option<usize>) -> Result<Witnesses, String> {
        let mut parsed: Vec<VerifierKey> = Vec::with_capacity(keys.len());
        for (i, text) in keys.iter().enumerate() {
            let key = VerifierKey::parse(text.trim()).map_err(|e| format!("[{i}]: {e}"))?;
            if key.kind != super::signed_note::COSIGNATURE_TYPE {
                return Err(format!(
                    "[{i}]: {} is not a cosigner's key (type 0x04)",
                    key.name
                ));
            }
            if parsed.iter().any(|k| k.name == key.name) {
                return Err(format!("[{i}]: a second witness named {}", key.name));
            }
            parsed.push(key);
        }
        let quorum = quorum.unwrap_or(parsed.len());
        if quorum > parsed.len() {
            return Err(format!(
                "a quorum of {quorum} from {} witnesses",
                parsed.len()
            ));
        }
        Ok(Witnesses {
            keys: parsed,
            quorum,
            grace: std::time::Duration::from_secs(300),
        })
    }

    /// The same witnesses, `grace` allowed to fall behind (`audit.witness_grace`).
    pub fn with_grace(self, grace: std::time::Duration) -> Witnesses {
        Witnesses { grace, ..self }
    }

    /// How far behind they are: the newest checkpoint cosigned by the quorum
    /// against the latest, in `store` (`since`: when the gateway started, in µs).
    pub async fn keeping_up(
        &self,
        store: &dyn lienthong_ledger::Store,
        since: i64,
    ) -> Result<Option<Witnessed>, lienthong_ledger::Error> {
        if self.quorum == 0 {
            return Ok(None);
        }
        let latest = store.audit_head().await?.checkpoint;
        let cosigned = store.audit_cosigned(self.quorum).await?.unwrap_or(0);
        let at = async |seq: u64| -> Result<Option<i64>, lienthong_ledger::Error> {
            Ok(store
                .audit_checkpoint_covering(seq)
                .await?
                .filter(|c| c.seq == seq)
                .map(|c| super::record::micros(c.at.as_ref())))
        };
        let lag = match (latest, cosigned) {
            (0, _) => 0,
            (l, c) if c >= l => 0,
            (l, c) => {
                let latest_at = at(l).await?.unwrap_or(since);
                let cosigned_at = match c {
                    0 => since,
                    c => at(c).await?.unwrap_or(since),
                };
                (latest_at - cosigned_at.max(since.min(latest_at))).max(0) / 1_000_000
            }
        };
        Ok(Some(Witnessed {
            quorum: self.quorum,
            cosigned,
            latest,
            lag_seconds: lag,
            lagging: lag > self.grace.as_secs() as i64,
        }))
    }

    /// How many must cosign a checkpoint (0 without witnesses).
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Their names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.name.as_str())
    }

    /// Checks `line`, one cosignature line, over the note of `checkpoint`: the
    /// witness's name and the time it says it cosigned at (seconds since the
    /// Unix epoch).
    pub fn check(&self, checkpoint: &Checkpoint, line: &str) -> Result<(String, u64), String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        if line.len() > MAX_LINE || line.contains('\n') || !line.starts_with("— ") {
            return Err("is not one cosignature line: \"— <name> <base64>\"".into());
        }
        let name = line["— ".len()..].split(' ').next().unwrap_or_default();
        let key = self
            .keys
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| format!("no witness named {name:?} is configured"))?;
        let text = checkpoint
            .note
            .find("\n\n")
            .map(|end| &checkpoint.note[..end + 1])
            .ok_or("the checkpoint has no note to cosign")?;
        let note = Note::parse(&format!("{text}\n{line}\n")).map_err(|e| e.to_string())?;
        let time = note
            .verify(key)
            .map_err(|_| format!("does not verify under the key of witness {name}"))?;
        Ok((name.to_owned(), time))
    }

    /// How many of `lines` (those kept for `checkpoint`) verify.
    pub fn count(&self, checkpoint: &Checkpoint, lines: &[String]) -> usize {
        lines
            .iter()
            .filter(|l| self.check(checkpoint, l).is_ok())
            .count()
    }
}

/// `checkpoint` as it is served: its note followed by the cosignature lines.
pub fn cosigned(mut checkpoint: Checkpoint, lines: &[String]) -> Checkpoint {
    for line in lines {
        checkpoint.note.push_str(line.trim_end_matches('\n'));
        checkpoint.note.push('\n');
    }
    checkpoint
}
