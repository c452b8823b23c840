"""Security matrix for issue 15 ("Staff and shop safety"): every case, and the test that proves it.

One row per (case, proving test). ``tests/security/test_matrix.py`` checks that every test named here
exists, so a renamed or deleted test breaks the suite instead of leaving the table stale.

| ID  | Section            | Case                                                                  | Proved by                                                                                              |
|-----|--------------------|-----------------------------------------------------------------------|--------------------------------------------------------------------------------------------------------|
| S1  | Stock and orders   | Stale product page (variant inline) never writes stock                | tests/security/test_admin_stock.py::test_price_saved_from_a_stale_product_page_keeps_the_sold_stock  |
| S1  | Stock and orders   | Stale variant list never writes stock                                 | tests/security/test_admin_stock.py::test_price_saved_from_a_stale_variant_list_keeps_the_sold_stock  |
| S1  | Stock and orders   | Stale variant page never writes stock                                 | tests/security/test_admin_stock.py::test_price_saved_from_a_stale_variant_page_keeps_the_sold_stock  |
| S1  | Stock and orders   | Stock changes are F() adjustments on the current stock, recorded      | tests/security/test_admin_stock.py::test_stock_adjustment_is_applied_to_the_current_stock_and_recorded |
| S1  | Stock and orders   | A stale write-off below zero is refused with a clear message          | tests/security/test_admin_stock.py::test_a_stale_write_off_below_zero_is_refused_with_a_clear_message |
| S1  | Stock and orders   | A stock change needs a reason                                         | tests/security/test_admin_stock.py::test_a_stock_change_needs_a_reason                                |
| S1  | Stock and orders   | Guard: no admin form offers stock as a field                          | tests/security/test_admin_stock.py::test_no_admin_form_for_variants_offers_stock_as_a_field          |
| S2  | Stock and orders   | View-only staff see no bulk actions or export                         | tests/security/test_order_admin.py::test_view_only_staff_see_no_actions                              |
| S2  | Stock and orders   | Forged bulk action / export / delete from view-only staff is 403      | tests/security/test_order_admin.py::test_view_only_staff_get_403_for_a_forged_action                 |
| S2  | Stock and orders   | Export needs its own permission (orders.export_order)                 | tests/security/test_order_admin.py::test_order_handlers_without_the_export_permission_cannot_export  |
| S2  | Stock and orders   | Change permission runs the bulk actions                               | tests/security/test_order_admin.py::test_order_handlers_can_mark_paid                                 |
| S2  | Stock and orders   | View-only staff: no workflow buttons, forged transition is 403        | tests/security/test_order_admin.py::test_view_only_staff_see_no_workflow_buttons_and_get_403_on_a_forged_transition |
| S2  | Stock and orders   | Export is formula-safe (covered before too)                           | tests/orders/test_admin.py::test_csv_export_of_selected_orders_neutralises_formulas                   |
| S3  | Stock and orders   | The staff group no longer gets every permission                       | tests/security/test_staff_roles.py::test_the_staff_group_no_longer_gets_every_permission              |
| S3  | Stock and orders   | Catalogue editors: catalogue only, no orders                          | tests/security/test_staff_roles.py::test_catalogue_editors_edit_the_catalogue_and_cannot_see_orders   |
| S3  | Stock and orders   | Order handlers: orders, catalogue read-only                           | tests/security/test_staff_roles.py::test_order_handlers_run_orders_and_only_look_at_the_catalogue     |
| S3  | Stock and orders   | Leaving a group removes its role; no claim makes a superuser          | tests/security/test_staff_roles.py::test_leaving_a_role_group_takes_its_permissions_away_and_no_claim_makes_a_superuser |
| S3  | Stock and orders   | An existing all-powerful staff group is narrowed by migration         | tests/security/test_staff_roles.py::test_the_migration_narrows_an_existing_all_powerful_staff_group   |
| S3  | Stock and orders   | Non-staff never reach the admin (covered before)                      | tests/catalog/test_admin.py::test_signed_in_shoppers_who_are_not_staff_cannot_use_the_admin           |
| S4  | Stock and orders   | One "sellable" rule: variant, product and category active             | tests/security/test_sellable.py::test_sellable_rule_excludes_each_switched_off_level                  |
| S4  | Stock and orders   | Posting a hidden piece's id adds nothing and names nothing            | tests/security/test_sellable.py::test_posting_the_id_of_a_piece_in_a_switched_off_category_adds_nothing_and_names_nothing |
| S4  | Stock and orders   | Checkout refuses a piece whose category was switched off              | tests/security/test_sellable.py::test_checkout_refuses_a_piece_whose_category_was_switched_off_after_it_was_bagged |
| S4  | Stock and orders   | The bag drops it                                                      | tests/security/test_sellable.py::test_the_bag_drops_a_line_whose_category_was_switched_off            |
| S5  | Stock and orders   | Two first adds from two tabs keep both lines                          | tests/security/test_races.py::test_two_first_adds_from_two_tabs_keep_both_lines                       |
| S5  | Stock and orders   | An order-number clash is retried, not a 500                           | tests/security/test_races.py::test_an_order_number_clash_is_retried_not_a_500                          |
| S5  | Stock and orders   | Delete default vs. set default in two tabs: no deadlock, no 500       | tests/security/test_races.py::test_deleting_the_default_while_another_tab_sets_a_default_neither_deadlocks_nor_500s |
| S5  | Stock and orders   | Set default on a just-deleted address: a message, not a 500           | tests/security/test_races.py::test_making_a_just_deleted_address_the_default_is_a_message_not_a_500   |
| S5  | Stock and orders   | Saving an address form loaded before the default moved: no 500        | tests/security/test_races.py::test_saving_an_address_form_loaded_before_another_tab_moved_the_default_is_not_a_500 |
| S5  | Stock and orders   | Last unit bought by 20 shoppers at once: one order (covered before)   | tests/orders/test_concurrency.py::test_twenty_shoppers_buy_the_last_unit_through_the_in_process_client_one_wins |
| S5  | Stock and orders   | Opposite-order carts do not deadlock (covered before)                 | tests/orders/test_concurrency.py::test_two_carts_with_the_same_variants_in_opposite_order_do_not_deadlock |
| S5  | Stock and orders   | The same checkout submitted 10 times: one order (covered before)      | tests/orders/test_concurrency.py::test_the_same_checkout_submitted_ten_times_at_once_gives_one_order  |
| S6  | Sign-in, sessions  | Look-alike user names share one counter                               | tests/security/test_sign_in.py::test_look_alike_names_share_one_counter                                |
| S6  | Sign-in, sessions  | Parallel failures are all counted                                     | tests/security/test_sign_in.py::test_parallel_failures_are_all_counted                                 |
| S6  | Sign-in, sessions  | One address spraying names is locked out                              | tests/security/test_sign_in.py::test_one_address_spraying_names_is_locked_out                          |
| S6  | Sign-in, sessions  | Failures count against the name from any address                      | tests/security/test_sign_in.py::test_failures_are_held_against_the_name_from_any_address               |
| S6  | Sign-in, sessions  | The lockout is a friendly 429                                         | tests/security/test_sign_in.py::test_the_lockout_page_is_a_friendly_429                                |
| S6  | Sign-in, sessions  | Lockout uses the one client-address helper                            | tests/security/test_sign_in.py::test_the_address_is_the_one_the_shop_helper_trusts                     |
| S6  | Sign-in, sessions  | A staff account is locked only for the failing address                | tests/security/test_sign_in.py::test_failures_on_a_staff_account_lock_only_that_address                |
| S7  | Sign-in, sessions  | Provider staff sessions are re-checked (bound: one hour)              | tests/security/test_sign_in.py::test_a_provider_staff_session_without_a_check_time_is_re_checked_at_once |
| S7  | Sign-in, sessions  | Break-glass password staff sessions are not cut                       | tests/security/test_sign_in.py::test_a_break_glass_password_staff_session_is_not_cut_by_the_provider_bound |
| S7  | Sign-in, sessions  | Removal from the Cognito staff group ends admin access within a bound | tests/accounts/test_oidc_flow.py::test_a_staff_member_removed_from_the_group_loses_the_admin_within_the_bound |
| S8  | Sign-in, sessions  | OIDC state entries expire                                             | tests/accounts/test_oidc_flow.py::test_an_expired_state_is_refused_with_its_own_page                     |
| S8  | Sign-in, sessions  | Login POST with code/state when both paths are on: clear 400          | tests/security/test_sign_in.py::test_a_password_post_carrying_code_and_state_is_a_clear_400            |
| S8  | Sign-in, sessions  | Replayed or foreign state is refused (covered before)                 | tests/accounts/test_oidc_tokens.py::test_replayed_state_is_refused                                    |
| S9  | Sign-in, sessions  | Failed-login usernames are logged as a digest, never as typed         | tests/security/test_sign_in.py::test_a_failed_sign_in_logs_a_digest_never_the_name                     |
| S9  | Sign-in, sessions  | Database error text holding an address is redacted                    | tests/security/test_sign_in.py::test_database_error_text_with_an_address_is_redacted                   |
| S9  | Sign-in, sessions  | Failed sign-in logs no password (covered before)                      | tests/deploy/test_logging.py::test_failed_sign_in_is_a_security_event_without_the_password            |
| S10 | Personal data      | Guest order tokens never reach a log or the address bar               | tests/security/test_personal_data.py::test_guest_link_token_stays_out_of_every_log_and_the_address_bar   |
| S10 | Personal data      | Old path-style links: the log formatter redacts their token           | tests/security/test_personal_data.py::test_links_sent_before_carry_the_token_in_the_path_and_logs_redact_it |
| S10 | Personal data      | The token-free page opens only for the session holding the grant      | tests/security/test_personal_data.py::test_the_token_free_page_opens_only_for_the_session_holding_the_grant |
| S10 | Personal data      | Guest link life is a setting, shorter than before (30 days)           | tests/security/test_personal_data.py::test_guest_link_life_is_a_setting_and_shorter_than_before          |
| S10 | Personal data      | Staff revoke an order's links and the sessions opened with them       | tests/security/test_personal_data.py::test_staff_revoke_an_orders_links_and_the_sessions_opened_with_them |
| S10 | Personal data      | View-only staff cannot revoke links                                   | tests/security/test_personal_data.py::test_view_only_staff_cannot_revoke_links                           |
| S10 | Personal data      | A tampered guest link is 404 (covered before)                         | tests/orders/test_views.py::test_tampered_guest_link_is_404                                           |
| S11 | Personal data      | Every page with personal data sends Cache-Control: no-store           | tests/security/test_personal_data.py::test_every_page_with_personal_data_sends_no_store                  |
| S11 | Personal data      | A guest's bag, checkout and order pages send no-store                 | tests/security/test_personal_data.py::test_a_guests_bag_checkout_and_order_pages_send_no_store           |
| S12 | Personal data      | Saved addresses pass checkout's text rules                            | tests/security/test_personal_data.py::test_saved_addresses_refuse_what_checkout_refuses                  |
| S13 | Personal data      | Money settings validated at start                                     | tests/security/test_personal_data.py::test_money_settings_are_checked_at_start                           |
| S13 | Personal data      | Production refuses the placeholder bank details                       | tests/security/test_personal_data.py::test_production_refuses_the_placeholder_bank_account               |
| S14 | Owner-only access  | Other users and staff get 404 on an order page (covered before)       | tests/orders/test_views.py::test_other_users_and_staff_get_404_and_the_attempt_is_logged              |
| S14 | Owner-only access  | Another shopper's bag line is 404 (covered before)                    | tests/cart/test_views.py::test_another_shoppers_line_is_404_and_untouched                             |
| S15 | CSRF               | Checkout and every bag form refuse a POST without a token (before)    | tests/orders/test_views.py::test_checkout_without_csrf_token_is_403                                   |
| S15 | CSRF               | (bag forms)                                                           | tests/cart/test_views.py::test_csrf_is_enforced_on_every_cart_form                                    |
| S201| Payments (#20)     | Card testing: the pay page makes no SetupIntent after the charge limit| tests/payments/test_access_and_setup.py::test_after_the_charge_limit_the_page_checks_no_more_cards |
| S201| Payments (#20)     | 25 reloads of the pay page make one SetupIntent                       | tests/payments/test_access_and_setup.py::test_twenty_five_reloads_make_one_setup_intent |
| S201| Payments (#20)     | Charge limit cancels the SetupIntent whose secret the page gave out   | tests/payments/test_access_and_setup.py::test_after_the_charge_limit_the_secret_already_handed_out_can_check_no_card |
| S201| Payments (#20)     | The pay page itself is rate-limited per client address                | tests/payments/test_access_and_setup.py::test_the_payment_page_itself_is_rate_limited_per_address |
| S202| Payments (#20)     | One selector: the guest grant opens the pay page, a revoke closes it  | tests/payments/test_access_and_setup.py::test_revoked_guest_links_close_the_payment_page_too |
| S202| Payments (#20)     | payments reads access through orders.access only                      | tests/payments/test_access_and_setup.py::test_payments_views_use_the_orders_selector_only |
| S203| Payments (#20)     | Webhook: our handler's error is 500, not recorded, alarmed, retried   | tests/payments/test_lifecycle.py::test_our_handler_failing_answers_500_keeps_nothing_and_the_retry_is_handled |
| S203| Payments (#20)     | Webhook: a signed event without id/type/object is 400 before handling | tests/payments/test_lifecycle.py::test_a_signed_event_without_id_type_or_object_is_refused_before_any_handler |
| S204| Payments (#20)     | Staff cannot mark a card order paid by hand (admin button and bulk)   | tests/payments/test_lifecycle.py::test_record_payment_is_refused_for_a_card_order_with_an_intent |
| S204| Payments (#20)     | Nor a card order whose charge has not reached Stripe yet              | tests/payments/test_lifecycle.py::test_record_payment_is_refused_for_a_card_order_before_its_charge_reaches_stripe |
| S206| Stock history (#20)| Variant inline offers no delete; a forged DELETE deletes nothing      | tests/security/test_stock_history_delete.py::test_a_forged_delete_of_a_variant_through_the_product_page_deletes_nothing |
| S206| Stock history (#20)| A variant or product with stock history cannot be deleted (PROTECT)   | tests/security/test_stock_history_delete.py::test_the_orm_refuses_to_delete_a_variant_or_product_with_stock_history |
| S205| Holds (#20)        | One address, fresh sessions and e-mails: at most the piece cap        | tests/orders/test_holds.py::test_one_address_holds_at_most_the_pieces_cap_across_fresh_sessions_and_emails |
| S205| Holds (#20)        | One address: at most the value cap                                    | tests/orders/test_holds.py::test_one_address_holds_at_most_the_value_cap                               |
| S205| Holds (#20)        | An IPv6 client is one /56 (a household's delegation)                  | tests/orders/test_holds.py::test_an_ipv6_client_is_counted_by_its_slash_56                             |
| S205| Holds (#20)        | One session capped whatever address and e-mail                        | tests/orders/test_holds.py::test_one_session_is_capped_whatever_address_and_email_it_uses              |
| S205| Holds (#20)        | Checkouts at once cannot beat the cap (advisory lock)                 | tests/orders/test_holds_concurrency.py::test_ten_checkouts_at_once_from_one_address_hold_exactly_the_cap |
| S205| Holds (#20)        | A stranger typing a customer's e-mail cannot lock them out            | tests/orders/test_holds.py::test_a_stranger_typing_a_customers_email_cannot_lock_them_out              |
| S205| Holds (#20)        | The recorded address is the trusted hop, not a forged one             | tests/orders/test_holds.py::test_the_checkout_records_the_trusted_address_not_a_forged_one             |
| S205| Holds (#20)        | Bag caps: lines and pieces, a 400 page with the message               | tests/orders/test_holds.py::test_the_bag_refuses_a_line_over_its_line_cap_with_the_product_page        |
| S205| Holds (#20)        | Large offline hold: security event without the e-mail                 | tests/orders/test_holds.py::test_a_large_offline_hold_logs_a_security_event_without_the_email          |
| S205| Holds (#20)        | Over HTTP (gunicorn, prod settings): a burst of 45 holds 10           | tests/orders/test_holds_http.py::test_one_address_with_fresh_sessions_and_emails_holds_at_most_the_caps_over_http |
| S205| Holds (#20)        | Over HTTP: a stranger cannot block a customer's checkout              | tests/orders/test_holds_http.py::test_a_stranger_cannot_block_a_customers_checkout_over_http           |
| S240| Search DoS (#21)   | A search of negations only is refused with a message, no text query   | tests/catalog/test_search_bounds.py::test_a_search_of_negations_only_is_refused_with_a_message_and_runs_no_text_query |
| S240| Search DoS (#21)   | A negation after a word still searches; a stop word is not a word     | tests/catalog/test_search_bounds.py::test_a_negation_after_a_word_is_still_a_search |
| S241| Search DoS (#21)   | At most 8 terms and 3 ors per query; the page says what was dropped   | tests/catalog/test_search_bounds.py::test_terms_and_ors_are_capped_and_the_page_says_so |
| S242| Search DoS (#21)   | Only the newest SHOP_SEARCH_CANDIDATES matches are ranked, counted    | tests/catalog/test_search_bounds.py::test_only_the_newest_candidates_are_ranked_and_counted |
| S243| Search DoS (#21)   | Every accepted query shape reads the GIN index, no to_tsvector scan   | tests/catalog/test_search_bounds.py::test_every_accepted_query_shape_reads_the_gin_index_and_never_scans_the_document |
| S244| Search DoS (#21)   | Over SHOP_SEARCH_TIMEOUT_MS: the too-broad page, never a 500          | tests/catalog/test_search_bounds.py::test_a_search_over_the_time_limit_shows_the_too_broad_page_not_a_500 |
| S245| Search DoS (#21)   | Over HTTP (gunicorn, prod settings): searches per address, 429 page   | tests/catalog/test_search_bounds.py::test_searches_are_limited_per_client_address_with_a_friendly_429 |
"""
