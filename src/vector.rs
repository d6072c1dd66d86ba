//! pgvector's `vector` datum, owned here and nowhere else. The on-disk layout is pgvector's
//! (src/vector.h): varlena header, int16 dim, int16 unused (must be 0), float4[dim]. Returning that
//! exact layout lets `<=>`, casts and HNSW indexes work on pg_clip's output with no conversion.

use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::nullable::Nullable;
use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum};

use crate::error::ClipError;

const HEADER_BYTES: usize = 8; // varlena length word + dim + unused
/// pgvector's VECTOR_MAX_DIM.
const MAX_DIM: usize = 16000;

#[derive(Debug, Clone, PartialEq)]
pub struct Vector(pub Vec<f32>);

/// The oid of pgvector's `vector` type, found through the extension rather than the search_path so a
/// schema-qualified install still works.
fn vector_type_oid() -> pg_sys::Oid {
    let oid = Spi::get_one::<pg_sys::Oid>(
        "SELECT t.oid FROM pg_catalog.pg_type t \
           JOIN pg_catalog.pg_extension e ON e.extnamespace = t.typnamespace \
          WHERE e.extname = 'vector' AND t.typname = 'vector'",
    );
    match oid {
        Ok(Some(oid)) => oid,
        _ => ClipError::MissingVectorType.report(),
    }
}

impl IntoDatum for Vector {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let dim = self.0.len();
        if dim == 0 || dim > MAX_DIM {
            // A dimension outside pgvector's range can only come from a wrong model; never hand Postgres
            // a datum pgvector would reject on read.
            pgrx::error!("pg_clip produced a vector of invalid dimension {dim}");
        }
        let size = HEADER_BYTES + dim * std::mem::size_of::<f32>();
        unsafe {
            let ptr = pg_sys::palloc0(size) as *mut u8;
            pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
            (ptr.add(4) as *mut i16).write(dim as i16);
            (ptr.add(6) as *mut i16).write(0);
            std::ptr::copy_nonoverlapping(self.0.as_ptr(), ptr.add(HEADER_BYTES) as *mut f32, dim);
            Some(pg_sys::Datum::from(ptr))
        }
    }

    fn type_oid() -> pg_sys::Oid {
        vector_type_oid()
    }

    fn is_compatible_with(other: pg_sys::Oid) -> bool {
        other == vector_type_oid()
    }
}

impl FromDatum for Vector {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _typoid: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        unsafe {
            let detoasted = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
            let total = pgrx::varsize_any(detoasted);
            let ptr = detoasted as *const u8;
            let dim = (ptr.add(4) as *const i16).read_unaligned();
            if dim <= 0 || total < HEADER_BYTES + dim as usize * 4 {
                pgrx::error!("malformed vector datum (dim {dim}, {total} bytes)");
            }
            let mut values = vec![0f32; dim as usize];
            std::ptr::copy_nonoverlapping(
                ptr.add(HEADER_BYTES) as *const f32,
                values.as_mut_ptr(),
                dim as usize,
            );
            Some(Vector(values))
        }
    }
}

pgrx::impl_sql_translatable!(Vector, "vector");

unsafe impl<'fcx> ArgAbi<'fcx> for Vector {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| pgrx::error!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

unsafe impl BoxRet for Vector {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        match self.into_datum() {
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}
