//! `lienthong completions SHELL` and `lienthong manpage`: shell completions and the
//! man page, generated from the command line's own definition, so they never
//! describe options the program does not have (the Debian package ships both).

use super::examples;

/// The completion script of `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<String, String> {
    let mut command = examples::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "lienthong", &mut out);
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The man page (roff), section 1: the program, then every command with its
/// description, options and example.
pub fn manpage() -> Result<String, String> {
    let command = examples::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .map_err(|e| e.to_string())?;
    for sub in leaves(&command, "lienthong") {
        let (name, sub) = sub;
        let name = name.replace(' ', "-");
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let section = clap_mangen::Man::new(sub.clone()).title(name);
        section
            .render_description_section(&mut out)
            .and_then(|()| section.render_options_section(&mut out))
            .map_err(|e| e.to_string())?;
        if let Some(example) = sub.get_after_help() {
            let example = example.to_string();
            let example = example
                .trim_start_matches("Example:")
                .trim_start_matches('\n')
                .replace('\\', "\\e")
                .replace('-', "\\-");
            out.extend_from_slice(format!(".SS EXAMPLE\n.nf\n{example}\n.fi\n").as_bytes());
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Every command that takes no subcommand, with its full name.
fn leaves(command: &clap::Command, name: &str) -> Vec<(String, clap::Command)> {
    command
        .get_subcommands()
        .flat_map(|sub| {
            let full = format!("{name} {}", sub.get_name());
            if sub.has_subcommands() {
                leaves(sub, &full)
            } else {
                vec![(full, sub.clone())]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_the_man_page_name_every_command() {
        let bash = completions(clap_complete::Shell::Bash).unwrap();
        for word in [
            "serve",
            "console",
            "login",
            "--agency",
            "config",
            "--production",
        ] {
            assert!(bash.contains(word), "{word} in the bash completions");
        }
        assert!(
            completions(clap_complete::Shell::Zsh)
                .unwrap()
                .contains("#compdef lienthong")
        );
        let man = manpage().unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH lienthong 1"),
            "{}",
            &man[..200]
        );
        for section in [
            "LIENTHONG-SERVE",
            "LIENTHONG-CONSOLE-LOGIN",
            "LIENTHONG-AUDIT-VERIFY",
        ] {
            assert!(man.contains(section), "{section} in the man page");
        }
        assert!(man.contains("\\-\\-production") || man.contains("--production"));
    }
}
