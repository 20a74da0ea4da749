import BoxOfficeDomain
/// The SQL functions where the hold and payment rules live (`Functions/*.sql`, embedded at build
/// time), each file its one current definition (`CREATE OR REPLACE`). The migrator applies them
/// after the versioned migrations on every start, under its lock, so a changed rule ships with the
/// code that calls it; a change of a function's arguments needs a migration that drops the old one
/// (CREATE OR REPLACE would add an overload).
enum SQLFunctions {
    static let all = [PackageResources.boxoffice_events_sql, PackageResources.boxoffice_hold_sql, PackageResources.boxoffice_pay_sql].map { String(decoding: $0, as: UTF8.self) }
}
