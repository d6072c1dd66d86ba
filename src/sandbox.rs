//! Acting on a user's table as its owner, the way PostgreSQL's own maintenance commands do.
//!
//! Backfill, status, adoption and tenant mapping read and write tables whose owners control code that runs
//! on every access (triggers, RLS policy functions, casts of their column types, defaults, index
//! expressions). Run with the caller's identity, that code would run as a superuser's pg_cron job or a
//! monitoring role. VACUUM, ANALYZE and REFRESH MATERIALIZED VIEW meet the same problem and switch to the
//! table's owner inside a security-restricted operation (`vacuum_rel`, `ExecRefreshMatView`); so does
//! [`clip_as_table_owner`]: whatever the owner's code does then, it does with the owner's rights only, and
//! it cannot change the session (no SET ROLE, no temp objects, no PREPARE) behind the caller's back.
//!
//! The function is callable by everyone because it grants nothing: the caller must already hold the
//! owner's privileges (or be a superuser, who only loses rights by switching), and it only runs pg_clip's
//! own internal functions of signature `(regclass, jsonb) -> jsonb`, never a function a user names.

use std::ffi::CString;

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::{ClipError, OrReport};

// PostgreSQL's miscadmin.h: security-context bits of SetUserIdAndSecContext.
const SECURITY_RESTRICTED_OPERATION: i32 = 0x0002;

/// Runs pg_clip's internal function `func(tbl, args)` as the owner of `tbl` inside a security-restricted
/// operation with `search_path = pg_catalog, pg_temp`, and returns its result.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn clip_as_table_owner(tbl: pg_sys::Oid, func: pg_sys::Oid, args: JsonB) -> JsonB {
    let owner = check_table(tbl).or_report();
    check_function(func).or_report();
    let caller = unsafe { pg_sys::GetUserId() };
    let permitted = unsafe { pg_sys::superuser() || pg_sys::has_privs_of_role(caller, owner) };
    if !permitted {
        ClipError::NotPermitted(format!(
            "role \"{}\" may not act on table {} as its owner \"{}\"",
            role_name(caller),
            table_name(tbl),
            role_name(owner)
        ))
        .report();
    }

    let (mut saved_user, mut saved_context) = (pg_sys::InvalidOid, 0i32);
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(owner, saved_context | SECURITY_RESTRICTED_OPERATION);
    }
    // A GUC nest level of our own: whatever the owner's code SETs (SET, SET LOCAL, set_config) is rolled
    // back on the way out, and name lookups cannot be steered by the caller's search_path. On an
    // ERROR the (sub)transaction abort restores identity and GUCs, as it does for REFRESH MATERIALIZED VIEW.
    let nest = unsafe { pg_sys::NewGUCNestLevel() };
    let name = CString::new("search_path").unwrap();
    let value = CString::new("pg_catalog, pg_temp").unwrap();
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
    let tbl_datum = pg_sys::Datum::from(tbl);
    let args_datum = args.into_datum().expect("jsonb datum");
    let result = unsafe { call_nonnull(func, tbl_datum, args_datum) };
    unsafe {
        // false: roll back, not keep. Even a plain SET by the owner's code (not only SET LOCAL) must not
        // outlive the operation and land in the caller's session (a search_path aimed at the owner's
        // schema would then steer the caller's next unqualified call), as in ExecRefreshMatView.
        pg_sys::AtEOXact_GUC(false, nest);
        pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
    }
    match result {
        Some(d) => unsafe { JsonB::from_datum(d, false) }.expect("jsonb result"),
        None => ClipError::Internal(format!("internal function {func:?} returned NULL")).report(),
    }
}

/// fmgr call of a two-argument function that may return NULL (OidFunctionCall2 would raise instead).
unsafe fn call_nonnull(func: pg_sys::Oid, a: pg_sys::Datum, b: pg_sys::Datum) -> Option<pg_sys::Datum> {
    let mut flinfo: pg_sys::FmgrInfo = std::mem::zeroed();
    pg_sys::fmgr_info(func, &mut flinfo);
    // FunctionCallInfoBaseData ends in a flexible array of NullableDatum: room for two arguments.
    let size = std::mem::size_of::<pg_sys::FunctionCallInfoBaseData>() + 2 * std::mem::size_of::<pg_sys::NullableDatum>();
    let fcinfo = pg_sys::palloc0(size) as *mut pg_sys::FunctionCallInfoBaseData;
    (*fcinfo).flinfo = &mut flinfo;
    (*fcinfo).nargs = 2;
    (*fcinfo).fncollation = pg_sys::InvalidOid;
    let args = (*fcinfo).args.as_mut_slice(2);
    args[0] = pg_sys::NullableDatum { value: a, isnull: false };
    args[1] = pg_sys::NullableDatum { value: b, isnull: false };
    let f = flinfo.fn_addr.expect("fmgr_info resolved the function");
    let d = f(fcinfo);
    let isnull = (*fcinfo).isnull;
    pg_sys::pfree(fcinfo.cast());
    if isnull { None } else { Some(d) }
}

/// The owner of a table pg_clip may act on: a permanent ordinary or partitioned table.
fn check_table(tbl: pg_sys::Oid) -> Result<pg_sys::Oid, ClipError> {
    let row = Spi::get_three_with_args::<pg_sys::Oid, String, String>(
        "SELECT relowner, relkind::text, relpersistence::text FROM pg_catalog.pg_class WHERE oid = $1",
        &[tbl.into()],
    );
    match row {
        Ok((Some(owner), Some(kind), Some(persistence))) => {
            if persistence == "t" {
                return Err(ClipError::WrongObject(format!(
                    "{} is a temporary table; pg_clip does not act on temporary tables",
                    table_name(tbl)
                )));
            }
            if kind != "r" && kind != "p" {
                return Err(ClipError::WrongObject(format!("{} is not a table", table_name(tbl))));
            }
            Ok(owner)
        }
        _ => Err(ClipError::UndefinedTable(format!("relation with OID {} does not exist", tbl.to_u32()))),
    }
}

/// Only pg_clip's own internal functions of signature (regclass, jsonb) -> jsonb may be run as an owner.
fn check_function(func: pg_sys::Oid) -> Result<(), ClipError> {
    let ok = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (
             SELECT 1 FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                                          AND d.objid = p.oid AND d.deptype = 'e'
                                          AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
               JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_clip'
              WHERE p.oid = $1 AND p.prokind = 'f' AND NOT p.proretset
                AND p.prorettype = 'pg_catalog.jsonb'::pg_catalog.regtype
                AND p.proargtypes = '2205 3802'::pg_catalog.oidvector)",
        &[func.into()],
    );
    match ok {
        Ok(Some(true)) => Ok(()),
        _ => Err(ClipError::NotPermitted(format!(
            "function with OID {} is not one of pg_clip's table-owner functions",
            func.to_u32()
        ))),
    }
}

fn role_name(role: pg_sys::Oid) -> String {
    Spi::get_one_with_args::<String>("SELECT pg_catalog.pg_get_userbyid($1)::text", &[role.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("OID {}", role.to_u32()))
}

fn table_name(tbl: pg_sys::Oid) -> String {
    Spi::get_one_with_args::<String>("SELECT $1::pg_catalog.regclass::text", &[tbl.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("OID {}", tbl.to_u32()))
}
