'use strict';
// RelatedAutocompleteFilter (invoicing/admin_lists.py): picking an object filters the list.
{
    const $ = django.jQuery;
    $(function() {
        $('form.autocomplete-filter select').on('change', function() {
            this.form.submit();
        });
    });
}
