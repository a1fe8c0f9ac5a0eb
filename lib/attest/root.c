/*
 * The pinned Intel SGX Root CA. The PEM below is Intel's root certificate
 * (as found at the end of every PCS issuer chain); its SHA-256 over the DER
 * is pinned separately and checked each time it is loaded, so a corrupted
 * or edited copy is refused instead of silently trusted.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest_internal.h"

static const char tu_intel_root_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
    "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
    "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
    "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
    "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
    "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
    "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
    "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
    "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
    "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
    "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
    "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
    "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
    "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
    "-----END CERTIFICATE-----\n"
    ;

/* SHA-256 of the DER certificate, 44A0196B...FAB674D3. */
static const uint8_t tu_intel_root_sha256[32] = {
    0x44, 0xA0, 0x19, 0x6B, 0x2B, 0x99, 0xF8, 0x89, 0xB8, 0xE1, 0x49, 0xE9, 0x5B, 0x80, 0x7A, 0x35,
    0x0E, 0x74, 0x24, 0x96, 0x43, 0x99, 0xE8, 0x85, 0xA7, 0xCB, 0xB8, 0xCC, 0xFA, 0xB6, 0x74, 0xD3};

teeu_status tu_intel_root_ca(X509 **out)
{
    *out = NULL;
    X509 *root;
    teeu_status st = tu_pem_cert_parse(tu_intel_root_pem, sizeof tu_intel_root_pem - 1,
                                       "pinned Intel SGX Root CA", &root);
    if (st != TEEU_OK)
        return tu_error(TEEU_ERR_INTERNAL_BUG, "the embedded Intel SGX Root CA does not parse");
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (X509_digest(root, EVP_sha256(), md, &md_len) != 1 || md_len != 32 ||
        memcmp(md, tu_intel_root_sha256, 32) != 0) {
        X509_free(root);
        ERR_clear_error();
        return tu_error(TEEU_ERR_INTERNAL_BUG,
                        "the embedded Intel SGX Root CA does not match its pinned SHA-256: "
                        "this libteeu build is corrupt, reinstall it");
    }
    *out = root;
    return TEEU_OK;
}
