/* SPDX-License-Identifier: Apache-2.0 */
// One owner for C handles: std::unique_ptr whose deleter is the C library's
// own release function, named once where the handle type is, in the spirit of
// systemd's _cleanup_. Owned<EVP_PKEY, EVP_PKEY_free> frees with
// EVP_PKEY_free; a library whose release takes T** (Esys_Finalize) gets a
// one-line function taking T*.
#pragma once

#include <memory>

namespace vouch {

template <auto Release> struct ReleaseWith {
    template <class T> void operator()(T *p) const { Release(p); }
};

template <class T, auto Release> using Owned = std::unique_ptr<T, ReleaseWith<Release>>;

} // namespace vouch
