/*
 * report_assets.h: the scripts and style embedded into every report.
 *
 * Generated at build time by report/gen_assets.py from report/vendor/ (the minified
 * vega, vega-lite and vega-embed builds that scripts/setup_report.sh installs) and from
 * report/report.js and report/report.css. Each text is already safe inside an HTML
 * <script>/<style> element. When the vendor files were missing at build time,
 * report_assets_have_vendor is 0 and the vendor texts are empty.
 */
#ifndef CS_REPORT_ASSETS_H
#define CS_REPORT_ASSETS_H

#include <stddef.h>

extern const int report_assets_have_vendor;
extern const char report_asset_vega[], report_asset_vega_lite[], report_asset_vega_embed[];
extern const size_t report_asset_vega_len, report_asset_vega_lite_len, report_asset_vega_embed_len;
extern const char report_asset_js[], report_asset_css[];
extern const size_t report_asset_js_len, report_asset_css_len;

#endif
