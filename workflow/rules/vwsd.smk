# Experiment `vwsd`: see DESIGN.md and config/README.md.


def vwsd_final_output():
    return []
