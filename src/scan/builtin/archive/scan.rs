//! The builtin engine's side of archive reading: what it checks in every member.
use super::super::{BuiltinEngine, Findings};
use super::{Container, Limits, Member, walk};
use crate::config::UnopenableArchive;

impl BuiltinEngine {
    /// Checks every member of a container (and of containers inside it) like a part:
    /// blocked names, signatures, executables. `budget` is the message's decoded-byte budget.
    pub(in super::super) fn check_archive(
        &self,
        kind: Container,
        data: &[u8],
        f: &mut Findings,
        budget: &mut u64,
    ) {
        let limits = Limits {
            max_depth: self.cfg.max_archive_depth,
            max_entries: self.cfg.max_archive_entries,
            max_bytes: self.cfg.max_archive_bytes.min(*budget),
            max_ratio: self.cfg.max_archive_ratio,
        };
        let report = walk(kind, data, limits, &mut |m: &Member| {
            self.check_member(m, f);
            f.infected.is_none()
        });
        *budget = budget.saturating_sub(report.bytes);
        if f.infected.is_some() {
            return;
        }
        if let Some(p) = report.problem {
            f.unscannable.get_or_insert_with(|| p.to_string());
        }
        if let Some(what) = report.unopenable
            && self.cfg.unopenable_archives == UnopenableArchive::Unscannable
        {
            f.unscannable
                .get_or_insert_with(|| format!("cannot open {what}"));
        }
    }

    fn check_member(&self, m: &Member, f: &mut Findings) {
        if let Some(why) = self.blocked_name(m.name) {
            f.infected = Some(why);
            return;
        }
        self.check_data(m.data, f);
        if f.infected.is_none() && self.is_executable(m.data) {
            f.infected = Some("Portcullis.Blocked.ExecutableInArchive".into());
        }
    }
}
