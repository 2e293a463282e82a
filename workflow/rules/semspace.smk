# Experiment `semspace`: see DESIGN.md and config/README.md.


def semspace_final_output():
    return []
