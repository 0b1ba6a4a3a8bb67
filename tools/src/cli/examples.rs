//! What `--help` shows under every command: an example of it as people type it,
//! options before or after the subcommand alike.

use clap::{CommandFactory, FromArgMatches};

use super::Cli;

/// Each command's path below `lienthong`, and an example of it.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "serve",
        "lienthong serve --config /etc/lienthong/lienthong.toml --log-format json",
    ),
    ("pki init", "lienthong pki init --certs-dir certs"),
    ("pki issue", "lienthong pki issue --agency H99.03"),
    ("pki revoke", "lienthong pki revoke --agency H99.02"),
    (
        "sim population",
        "lienthong sim population --listen 127.0.0.1:8088 --latency-ms 50",
    ),
    (
        "sim portal",
        "lienthong sim portal --listen 127.0.0.1:8089 --record portal.jsonl",
    ),
    (
        "client citizen",
        "lienthong client citizen 001085012345 --agency H99.01 --purpose dossier-processing \\\n      --legal-basis ND-47/2020 --officer cb-0001 --fields full_name,birth_date",
    ),
    (
        "client verify",
        "lienthong client verify 001085012345 --name \"Ngô Anh Đạt\" --agency H99.02 \\\n      --purpose dossier-processing --legal-basis ND-47/2020 --officer cb-0001",
    ),
    (
        "client residence",
        "lienthong client residence 001085012345 --agency H99.01 --purpose dossier-processing \\\n      --legal-basis ND-47/2020 --officer cb-0001",
    ),
    (
        "client dossier submit",
        "lienthong client dossier submit --code H99.01-261129-0001 --procedure 1.001193 \\\n      --applicant-name \"Ngô Anh Đạt\" --applicant-id 001085012345 --due-in-days 3",
    ),
    (
        "client dossier update",
        "lienthong client dossier update --code H99.01-261129-0001 --status 4 \\\n      --expected-revision 1 --handler cb-0001",
    ),
    (
        "client dossier get",
        "lienthong client dossier get --code H99.01-261129-0001 --json",
    ),
    (
        "client dossier list",
        "lienthong client dossier list --status 4 --page-size 50",
    ),
    (
        "client dossier watch",
        "lienthong client dossier watch --agency H99.01",
    ),
    (
        "audit query",
        "lienthong audit query --subject 001085012345",
    ),
    ("audit verify", "lienthong audit verify --file audit.jsonl"),
    (
        "audit archive",
        "lienthong audit archive --agency H99.99 --before 2026-11-01T00:00:00+07:00 --expire",
    ),
    (
        "audit prove",
        "lienthong audit prove --seq 42 --json > proof.json",
    ),
    (
        "audit export",
        "lienthong audit export --from 2026-11-01T00:00:00+07:00 > audit.jsonl",
    ),
    (
        "witness init",
        "lienthong witness init --dir witness --name thanhtra.h99.gov.vn/witness",
    ),
    (
        "witness run",
        "lienthong witness run --dir witness --log-key audit-signing.pub \\\n      --url https://gateway.h99.gov.vn:50051 --agency H99.90 --every 1m",
    ),
    ("cache stats", "lienthong cache stats --data-dir data"),
    (
        "cache purge",
        "lienthong cache purge --personal-id 001085012345",
    ),
    ("sync status", "lienthong sync status"),
    (
        "sync retry",
        "lienthong sync retry --dead --dossier H99.01-261129-0001",
    ),
    (
        "report indicators",
        "lienthong report indicators --month 2026-11 --agency H99.01 --csv",
    ),
    (
        "completions",
        "lienthong completions bash > /usr/share/bash-completion/completions/lienthong",
    ),
    (
        "manpage",
        "lienthong manpage > /usr/local/share/man/man1/lienthong.1",
    ),
    (
        "console login",
        "lienthong console login --config /etc/lienthong/lienthong.toml --agency H99.90 \\\n      --officer \"Nguyễn Văn A\"",
    ),
    (
        "ledger migrate",
        "lienthong ledger migrate --data-dir data --to postgres://lienthong@db/lienthong",
    ),
    (
        "policy check",
        "lienthong policy check --agency H99.02 --operation IdentityService/GetCitizen \\\n      --purpose dossier-processing --legal-basis ND-47/2020",
    ),
    (
        "config default",
        "lienthong config default --production > /etc/lienthong/lienthong.toml",
    ),
    (
        "config check",
        "lienthong config check /etc/lienthong/lienthong.toml",
    ),
    (
        "health",
        "lienthong health --url https://gw:50051 --agency H99.01",
    ),
    ("bench", "lienthong bench --local --rounds 3 --duration 10s"),
];

/// The command line with every example under its command.
pub fn command() -> clap::Command {
    EXAMPLES
        .iter()
        .fold(Cli::command(), |cmd, (path, example)| {
            with_example(cmd, &path.split(' ').collect::<Vec<_>>(), example)
        })
}

fn with_example(cmd: clap::Command, path: &[&str], example: &str) -> clap::Command {
    match path {
        [] => cmd.after_help(format!("Example:\n  {example}")),
        [first, rest @ ..] => cmd.mut_subcommand(*first, |sub| with_example(sub, rest, example)),
    }
}

/// Parses the process's arguments.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command without subcommands, by its path.
    fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<(String, String)>) {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            let help = cmd.get_after_help().map(|h| h.to_string());
            out.push((path.clone(), help.unwrap_or_default()));
        }
        for s in subs {
            let next = format!("{path} {}", s.get_name()).trim().to_owned();
            leaves(s, next, out);
        }
    }

    #[test]
    fn every_command_shows_an_example_of_itself_that_parses() {
        let mut all = Vec::new();
        leaves(&command(), String::new(), &mut all);
        assert!(all.len() >= 28, "{all:?}");
        for (path, help) in &all {
            let example = help
                .strip_prefix("Example:\n  ")
                .unwrap_or_else(|| panic!("`lienthong {path}` has no example"));
            assert!(
                example.starts_with(&format!("lienthong {path} "))
                    || example == format!("lienthong {path}"),
                "{path}: {example}"
            );
            // The example as a shell would split it (no quoting beyond "…").
            let line = example.replace("\\\n", " ");
            let line = line.split(" > ").next().unwrap();
            let mut args = Vec::new();
            let mut quoted: Option<String> = None;
            for word in line.split_whitespace() {
                match (&mut quoted, word.strip_prefix('"')) {
                    (None, Some(rest)) if rest.ends_with('"') => {
                        args.push(rest.trim_end_matches('"').to_owned())
                    }
                    (None, Some(rest)) => quoted = Some(rest.to_owned()),
                    (Some(q), _) if word.ends_with('"') => {
                        args.push(format!("{q} {}", word.trim_end_matches('"')));
                        quoted = None;
                    }
                    (Some(q), _) => *q = format!("{q} {word}"),
                    (None, None) => args.push(word.to_owned()),
                }
            }
            command()
                .try_get_matches_from(&args)
                .unwrap_or_else(|e| panic!("`{example}` does not parse: {e}"));
        }
    }

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        for args in [
            "lienthong client --agency H99.02 --purpose p --legal-basis ND-47/2020 --officer cb citizen 001085012345",
            "lienthong client citizen 001085012345 --agency H99.02 --purpose p --legal-basis ND-47/2020 --officer cb",
            "lienthong client citizen --url https://gw:50051 --agency H99.02 001085012345 --json --purpose p --legal-basis ND-47/2020 --officer cb",
        ] {
            let matches = command().try_get_matches_from(args.split(' ')).unwrap();
            let cli = Cli::from_arg_matches(&matches).unwrap();
            let super::super::Command::Client(client) = cli.command else {
                panic!("not a client call");
            };
            assert_eq!(client.agency, "H99.02", "{args}");
            assert_eq!(client.purpose.as_deref(), Some("p"), "{args}");
        }
    }
}
